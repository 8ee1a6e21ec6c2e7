/* retry.c - backoff delays of the retry strategies (berth/worker.h). */
#include "berth/worker.h"

static uint64_t next_rand(uint64_t *s)
{
    /* xorshift64*: enough for jitter. */
    uint64_t x = *s ? *s : UINT64_C(0x9e3779b97f4a7c15);
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * UINT64_C(2685821657736338717);
}

int64_t berth_retry_delay_us(enum berth_retry_strategy s, int attempt,
                             int64_t base_us, int64_t max_us, uint64_t *rng)
{
    int64_t d;

    if (attempt < 1)
        attempt = 1;
    switch (s) {
    case BERTH_RETRY_NONE:
        return 0;
    case BERTH_RETRY_FIXED:
        d = base_us;
        break;
    case BERTH_RETRY_LINEAR:
        d = base_us > max_us / attempt ? max_us : base_us * attempt;
        break;
    case BERTH_RETRY_EXPONENTIAL:
    default:
        d = base_us;
        for (int i = 1; i < attempt && d < max_us; i++)
            d = d > max_us / 2 ? max_us : d * 2;
        if (d > max_us)
            d = max_us;
        /* Equal jitter: half of the delay is fixed, half is random, so
         * that workers retrying together spread out but never retry
         * sooner than half the nominal delay. */
        {
            int64_t half = d / 2;
            uint64_t r = next_rand(rng);
            d = half + (half > 0 ? (int64_t)(r % (uint64_t)(half + 1)) : 0);
        }
        return d;
    }
    return d > max_us ? max_us : d;
}

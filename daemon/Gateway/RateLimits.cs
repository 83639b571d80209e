using System.Collections.Concurrent;
using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>
/// Requests and tokens per minute per key, or per anonymous peer (in memory): the key's own limits, else
/// security.default_*; 0 is unlimited.
/// Token usage is charged when a request ends, so one request may overshoot; the next waits it out.
/// </summary>
internal sealed class RateLimits(ConfigHolder config, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, TokenBucket> requests = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TokenBucket> tokens = new(StringComparer.Ordinal);

    public void Admit(ClientIdentity client)
    {
        var now = time.GetTimestamp();
        var (rpm, tpm) = Limits(client);
        if (rpm > 0 && !Bucket(requests, client.BucketId, rpm, now).TryTake(1, now, time, out var wait))
        {
            throw new GatewayException(429, $"rate limit: {rpm} requests per minute for {Who(client)}", code: "rate_limit_exceeded", retryAfter: wait);
        }

        if (tpm > 0 && !Bucket(tokens, client.BucketId, tpm, now).TryTake(0, now, time, out wait))
        {
            throw new GatewayException(429, $"rate limit: {tpm} tokens per minute for {Who(client)}", code: "rate_limit_exceeded", retryAfter: wait);
        }
    }

    public void ChargeTokens(ClientIdentity client, long used)
    {
        var tpm = Limits(client).Tpm;
        if (tpm > 0 && used > 0)
        {
            var now = time.GetTimestamp();
            Bucket(tokens, client.BucketId, tpm, now).Charge(used, now, time);
        }
    }

    private (long Rpm, long Tpm) Limits(ClientIdentity client)
    {
        var security = config.Current.Security;
        return (
            client.Key is { RequestsPerMinute: > 0 } k ? k.RequestsPerMinute : security.DefaultRequestsPerMinute,
            client.Key is { TokensPerMinute: > 0 } t ? t.TokensPerMinute : security.DefaultTokensPerMinute);
    }

    private static TokenBucket Bucket(ConcurrentDictionary<string, TokenBucket> buckets, string id, long perMinute, long now)
    {
        var bucket = buckets.GetOrAdd(id, _ => new TokenBucket(perMinute, now));
        if (bucket.PerMinute != perMinute)
        {
            bucket = buckets[id] = new TokenBucket(perMinute, now);
        }

        return bucket;
    }

    private static string Who(ClientIdentity client) => client.Key is { } key ? $"key '{key.Name}'" : $"anonymous clients ({client.Peer})";
}

using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;

namespace UnifiedLlm.Daemon.Gateway.Caching;

/// <summary>
/// Whether a request may be cached, and its key: the SHA-256 of the endpoint, the configured name that owns the cache,
/// the caller's scope (null when the cache is shared) and the request body in canonical form — objects' properties in
/// ordinal order, no whitespace, strings unescaped, numbers in one spelling (0, 0.0 and 0e0 alike) — without the fields
/// that do not change the answer: <c>model</c> (the owner stands for it), <c>stream</c>, <c>stream_options</c> (a hit is
/// replayed in either shape) and <c>user</c>.
/// </summary>
internal static class CacheKeys
{
    private static readonly string[] Ignored = ["model", "stream", "stream_options", "user"];

    /// <summary>
    /// A key, or why the request is not cached: sampled (a temperature other than 0, or none: OpenAI's and llama-server's
    /// defaults both sample) unless <paramref name="cacheSampled"/>; logprobs (a replayed stream would lose them); or a
    /// body that has no single canonical form (a string that is not valid Unicode).
    /// </summary>
    public static CacheDecision Decide(EndpointKind kind, ReadOnlySpan<byte> body, string owner, string? scope, bool cacheSampled)
    {
        using var document = JsonDocument.Parse(body.ToArray(), new JsonDocumentOptions { MaxDepth = RequestBody.MaxDepth });
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            return CacheDecision.Bypass("not an object");
        }

        if (kind is EndpointKind.ChatCompletions or EndpointKind.Completions)
        {
            if (WantsLogprobs(root))
            {
                return CacheDecision.Bypass("logprobs");
            }

            if (!cacheSampled && !Deterministic(root))
            {
                return CacheDecision.Bypass("sampled");
            }
        }

        var buffer = new ArrayBufferWriter<byte>(body.Length + 128);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartArray();
            writer.WriteStringValue("ullm-cache-v1");
            writer.WriteStringValue(kind.ConfigName());
            writer.WriteStringValue(owner);
            if (scope is null)
            {
                writer.WriteNullValue();
            }
            else
            {
                writer.WriteStringValue(scope);
            }

            try
            {
                WriteCanonical(writer, root, topLevel: true);
            }
            catch (InvalidOperationException)
            {
                return CacheDecision.Bypass("not valid Unicode");
            }

            writer.WriteEndArray();
        }

        return new CacheDecision(Convert.ToHexStringLower(SHA256.HashData(buffer.WrittenSpan)), null);
    }

    /// <summary>Only an explicit temperature of 0 is greedy decoding; no temperature is the backend's default, which samples.</summary>
    private static bool Deterministic(JsonElement root) =>
        root.TryGetProperty("temperature", out var t) && t.ValueKind == JsonValueKind.Number && t.TryGetDouble(out var value) && value == 0;

    private static bool WantsLogprobs(JsonElement root) =>
        root.TryGetProperty("logprobs", out var l) && l.ValueKind is not (JsonValueKind.Null or JsonValueKind.False)
        && !(l.ValueKind == JsonValueKind.Number && l.TryGetInt32(out var n) && n == 0);

    private static void WriteCanonical(Utf8JsonWriter writer, JsonElement element, bool topLevel = false)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                writer.WriteStartObject();
                var properties = element.EnumerateObject()
                    .Where(p => !topLevel || !Ignored.Contains(p.Name, StringComparer.Ordinal))
                    .OrderBy(p => p.Name, StringComparer.Ordinal)
                    .ToList();
                foreach (var property in properties)
                {
                    writer.WritePropertyName(property.Name);
                    WriteCanonical(writer, property.Value);
                }

                writer.WriteEndObject();
                break;
            case JsonValueKind.Array:
                writer.WriteStartArray();
                foreach (var item in element.EnumerateArray())
                {
                    WriteCanonical(writer, item);
                }

                writer.WriteEndArray();
                break;
            case JsonValueKind.String:
                writer.WriteStringValue(element.GetString());
                break;
            case JsonValueKind.Number:
                writer.WriteRawValue(CanonicalNumber(element.GetRawText()), skipInputValidation: true);
                break;
            default:
                element.WriteTo(writer);
                break;
        }
    }

    /// <summary>One spelling per value: exact as a decimal with trailing zeros dropped (seeds keep every digit), else as a double.</summary>
    private static string CanonicalNumber(string raw)
    {
        if (decimal.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var exact))
        {
            // Dividing by 1.000…0 drops the scale that trailing zeros gave the decimal (1.50 → 1.5, 0.0 → 0).
            return (exact / 1.0000000000000000000000000000m).ToString(CultureInfo.InvariantCulture);
        }

        return double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var approximate)
            ? approximate.ToString("R", CultureInfo.InvariantCulture)
            : raw;
    }
}

/// <summary>A cache key (hex SHA-256), or why the request bypasses the cache.</summary>
internal readonly record struct CacheDecision(string? Key, string? BypassReason)
{
    public static CacheDecision Bypass(string reason) => new(null, reason);
}

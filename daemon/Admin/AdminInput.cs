using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using UnifiedLlm.Daemon.Config;
using UnifiedLlm.Daemon.Models.Sizing;
using UnifiedLlm.Daemon.Scheduling.Planning;

namespace UnifiedLlm.Daemon.Admin;

/// <summary>
/// Checks on what admin clients send, before it reaches the daemon: over-long strings and out-of-range times are
/// INVALID_ARGUMENT naming the field, and every client string put into an error message is bounded by
/// <see cref="Echo"/>, so an error can never outgrow gRPC's trailer limit or the daemon's memory.
/// </summary>
internal static class AdminInput
{
    /// <summary>The longest model, alias, group or key name a config or key can have (<see cref="ConfigLoader.IsSafeName"/>).</summary>
    public const int MaxNameLength = 64;

    /// <summary>The longest free-form filter (an audit row's requested model, a key id) a request may carry.</summary>
    public const int MaxFilterLength = 1024;

    /// <summary>The most entries of a repeated string field (a key's models, event kinds).</summary>
    public const int MaxListCount = 256;

    /// <summary>How much of a client string an error message repeats.</summary>
    public const int EchoLength = 64;

    /// <summary>
    /// The largest admin request ullmd reads. The biggest legitimate one is a key with <see cref="MaxListCount"/> model
    /// names of <see cref="MaxFilterLength"/> characters; anything far past that is refused before it is decoded.
    /// </summary>
    public const int MaxRequestBytes = 512 * 1024;

    // Timestamp's valid range (0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z), as in timestamp.proto.
    private const long MinSeconds = -62_135_596_800;
    private const long MaxSeconds = 253_402_300_799;

    /// <summary>The value as an error message may repeat it: whole when short, else its start, an ellipsis and its length.</summary>
    public static string Echo(string value)
    {
        if (value.Length <= EchoLength)
        {
            return value;
        }

        var cut = char.IsHighSurrogate(value[EchoLength - 1]) ? EchoLength - 1 : EchoLength;
        return string.Create(CultureInfo.InvariantCulture, $"{value[..cut]}… ({value.Length} characters)");
    }

    /// <summary>A model, alias or key name: at most <see cref="MaxNameLength"/> characters (empty allowed; lookups say not found).</summary>
    public static string Name(string value, string field) => Bounded(value, field, MaxNameLength, "a name");

    /// <summary>A filter or id: at most <see cref="MaxFilterLength"/> characters.</summary>
    public static string Filter(string value, string field) => Bounded(value, field, MaxFilterLength, "this field");

    /// <summary>Each entry of a repeated string field as <see cref="Filter"/>, and at most <see cref="MaxListCount"/> of them.</summary>
    public static IReadOnlyList<string> List(IReadOnlyList<string> values, string field, int maxLength)
    {
        if (values.Count > MaxListCount)
        {
            throw Invalid(field, $"{values.Count} entries, more than the {MaxListCount} allowed");
        }

        for (var i = 0; i < values.Count; i++)
        {
            Bounded(values[i], $"{field}[{i}]", maxLength, "an entry");
        }

        return values;
    }

    /// <summary>The timestamp as a time, or null when unset; INVALID_ARGUMENT when outside 0001-01-01 to 9999-12-31 or with bad nanos.</summary>
    public static DateTimeOffset? Time(Timestamp? value, string field)
    {
        if (value is null)
        {
            return null;
        }

        if (value.Nanos is < 0 or > 999_999_999)
        {
            throw Invalid(field, $"nanos {value.Nanos} is outside 0 to 999999999");
        }

        if (value.Seconds is < MinSeconds or > MaxSeconds)
        {
            throw Invalid(field, $"seconds {value.Seconds} is outside the years 0001 to 9999 ({MinSeconds} to {MaxSeconds})");
        }

        return value.ToDateTimeOffset();
    }

    /// <summary>An unsigned count that the daemon keeps as an int: INVALID_ARGUMENT above int.MaxValue.</summary>
    public static int ToInt(uint value, string field) =>
        value <= int.MaxValue ? (int)value : throw Invalid(field, $"{value} is above the maximum {int.MaxValue}");

    /// <summary>An unsigned count that the daemon keeps as a long: INVALID_ARGUMENT above long.MaxValue.</summary>
    public static long ToLong(ulong value, string field) =>
        value <= long.MaxValue ? (long)value : throw Invalid(field, $"{value} is above the maximum {long.MaxValue}");

    public static RpcException Invalid(string field, string message) =>
        new(new Grpc.Core.Status(StatusCode.InvalidArgument, $"{field}: {message}"));

    private static string Bounded(string value, string field, int max, string what) =>
        value.Length <= max ? value : throw Invalid(field, $"'{Echo(value)}' is longer than {what} can be ({max} characters)");

    /// <summary>A load's overrides from its request fields (0 and empty: configured); InvalidArgument naming the field when one is malformed.</summary>
    public static LoadOverrides Overrides(uint context, string gpuLayers, uint? gpu, uint parallel, string cacheType)
    {
        var layers = GpuLayersChoice.Parse(Name(gpuLayers, "gpu_layers"))
            ?? throw Invalid("gpu_layers", $"'{Echo(gpuLayers)}' is not \"auto\" or a number of layers");
        KvCacheType? cache = null;
        if (Name(cacheType, "cache_type").Length > 0)
        {
            cache = KvCacheType.Names.TryGetValue(cacheType, out var type)
                ? KvCacheType.FromGgmlType(type)
                : throw Invalid("cache_type", $"'{Echo(cacheType)}' is not one of {string.Join(", ", KvCacheType.Names.Keys)}");
        }

        return new LoadOverrides(
            context == 0 ? null : context,
            parallel == 0 ? null : ToInt(parallel, "parallel"),
            layers,
            gpu is { } index ? ToInt(index, "gpu") : null,
            cache);
    }
}

using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace UnifiedLlm.Daemon.Config;

/// <summary>Structural equality for config records, whose lists and maps compare by reference otherwise.</summary>
internal static class ValueEquality
{
    public static bool Equal<T>(T a, T b)
    {
        var info = ConfigJsonContext.Default.GetTypeInfo(typeof(T)) as JsonTypeInfo<T>
            ?? throw new InvalidOperationException($"{typeof(T).Name} has no source-generated JSON metadata: add it to {nameof(ConfigJsonContext)}");
        return JsonSerializer.Serialize(a, info) == JsonSerializer.Serialize(b, info);
    }
}

/// <summary>
/// The config records <see cref="ValueEquality"/> compares (the whole config reaches every record it holds), with
/// System.Text.Json's default options.
/// </summary>
[JsonSerializable(typeof(UllmConfig))]
internal sealed partial class ConfigJsonContext : JsonSerializerContext;

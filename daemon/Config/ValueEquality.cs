using System.Text.Json;

namespace UnifiedLlm.Daemon.Config;

/// <summary>Structural equality for config records, whose lists and maps compare by reference otherwise.</summary>
internal static class ValueEquality
{
    public static bool Equal<T>(T a, T b) => JsonSerializer.Serialize(a) == JsonSerializer.Serialize(b);
}

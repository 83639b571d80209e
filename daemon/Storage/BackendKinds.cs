using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Daemon.Storage;

/// <summary>
/// How <see cref="BackendKind"/> is stored in <c>instances.backend</c>: its name in <see cref="EnumNames"/>, as the config
/// spells it. Rows an older ullmd wrote hold "llama.cpp", which reads back as llama.cpp.
/// </summary>
internal static class BackendKinds
{
    public static string ToDatabase(this BackendKind kind) => EnumNames.NameOf(kind);

    /// <summary>Whether a stored backend name stands for <paramref name="kind"/>.</summary>
    public static bool IsStoredAs(this BackendKind kind, string stored) => EnumNames.TryReadBackend(stored, out var read) && read == kind;
}

namespace UnifiedLlm.Daemon.Config;

/// <summary>
/// The one spelling of each value of an enum that the config, the database, the admin API and ullmctl all use, so that a
/// name read in one place is the name written in every other. Former spellings, still found in stored rows written by an
/// older ullmd, are read back to their value but never written, and the config does not accept them.
/// </summary>
internal sealed class NameTable<T>
    where T : struct, Enum
{
    private readonly Dictionary<string, T> byName = new(StringComparer.Ordinal);
    private readonly Dictionary<T, string> names = [];
    private readonly Dictionary<string, T> former = new(StringComparer.Ordinal);

    public NameTable(params (T Value, string Name)[] entries)
    {
        foreach (var (value, name) in entries)
        {
            byName.Add(name, value);
            names.Add(value, name);
        }
    }

    /// <summary>The accepted names and their values, in the order declared.</summary>
    public IReadOnlyDictionary<string, T> ByName => byName;

    public IEnumerable<string> Names => byName.Keys;

    /// <summary>The names quoted for a message: <c>'a', 'b', 'c'</c>.</summary>
    public string Accepted => string.Join(", ", byName.Keys.Select(n => $"'{n}'"));

    /// <summary>Another spelling that stored data may hold for <paramref name="value"/>; read, never written.</summary>
    public NameTable<T> WithFormer(string name, T value)
    {
        former.Add(name, value);
        return this;
    }

    public string NameOf(T value) =>
        names.TryGetValue(value, out var name) ? name : throw new ArgumentOutOfRangeException(nameof(value), value, $"no name for {typeof(T).Name}.{value}");

    /// <summary>The value of an accepted name or, for data stored by an older ullmd, a former one.</summary>
    public bool TryRead(string text, out T value) => byName.TryGetValue(text, out value) || former.TryGetValue(text, out value);
}

/// <summary>The name table of each enum whose values are spelled in the config, the database, the admin API or ullmctl.</summary>
internal static class EnumNames
{
    /// <summary>Built-in backends; a generic backend is named by its own [backends.NAME] table. "llama.cpp" was stored before.</summary>
    public static readonly NameTable<BackendKind> Backends =
        new NameTable<BackendKind>((BackendKind.LlamaCpp, "llamacpp"), (BackendKind.Ollama, "ollama"), (BackendKind.Vllm, "vllm"))
            .WithFormer("llama.cpp", BackendKind.LlamaCpp);

    /// <summary>The kind of a model on a generic backend, and of that backend's table.</summary>
    public const string Generic = "generic";

    public static readonly NameTable<SupervisorKind> Supervisors =
        new((SupervisorKind.Auto, "auto"), (SupervisorKind.Systemd, "systemd"), (SupervisorKind.Process, "process"));

    public static readonly NameTable<IoScheduling> IoSchedulings = new((IoScheduling.Inline, "inline"), (IoScheduling.Pool, "pool"));

    public static readonly NameTable<ProviderKind> Providers = new((ProviderKind.OpenAi, "openai"), (ProviderKind.Anthropic, "anthropic"));

    public static readonly NameTable<RouteStrategy> Strategies = new(
        (RouteStrategy.LocalFirst, "local-first"),
        (RouteStrategy.CloudFirst, "cloud-first"),
        (RouteStrategy.CostOptimized, "cost-optimized"),
        (RouteStrategy.LatencyOptimized, "latency-optimized"),
        (RouteStrategy.RoundRobin, "round-robin"));

    /// <summary>The name of any backend kind, generic included (stored rows, the admin API).</summary>
    public static string NameOf(BackendKind kind) => kind == BackendKind.Generic ? Generic : Backends.NameOf(kind);

    /// <summary>The kind a stored or sent name stands for: a built-in backend's (or its former spelling), or generic.</summary>
    public static bool TryReadBackend(string text, out BackendKind kind)
    {
        if (text == Generic)
        {
            kind = BackendKind.Generic;
            return true;
        }

        return Backends.TryRead(text, out kind);
    }
}

using System.Text.RegularExpressions;

namespace UnifiedLlm.Daemon.Config;

/// <summary>
/// The <c>kind = "generic"</c> backends ([backends.NAME] tables other than the built-in ones) and what a model on one
/// declares: its backend by name and its memory footprint.
/// </summary>
internal static partial class ConfigLoader
{
    /// <summary>What each placeholder of a generic command stands for, as <c>ullmd --check</c> names them.</summary>
    public static readonly IReadOnlyDictionary<string, string> Placeholders = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["PORT"] = "the loopback port ullmd chose for this load",
        ["HOST"] = "the address to listen on (127.0.0.1)",
        ["MODEL_PATH"] = "the model's source",
        ["MODEL_NAME"] = "the model's name",
        ["CTX"] = "the model's context",
        ["GPUS"] = "the GPU indices of the plan, comma-separated as in CUDA_VISIBLE_DEVICES (empty on the CPU)",
    };

    private static readonly Dictionary<string, ServedEndpoints> EndpointNames = new(StringComparer.Ordinal)
    {
        ["chat"] = ServedEndpoints.Chat,
        ["completions"] = ServedEndpoints.Completions,
        ["embeddings"] = ServedEndpoints.Embeddings,
        ["rerank"] = ServedEndpoints.Rerank,
        ["transcriptions"] = ServedEndpoints.Transcriptions,
        ["translations"] = ServedEndpoints.Translations,
        ["speech"] = ServedEndpoints.Speech,
    };

    private static Dictionary<string, BackendConfig> BindGenericBackends(TomlSection? backendsSection)
    {
        var generic = new Dictionary<string, BackendConfig>(StringComparer.Ordinal);
        if (backendsSection is null)
        {
            return generic;
        }

        foreach (var (name, section) in backendsSection.ChildTables().Where(t => !EnumNames.Backends.ByName.ContainsKey(t.Name)))
        {
            if (!IsSafeName(name))
            {
                section.ErrorAtTable(NameRule);
            }

            var kind = section.OptionalString("kind");
            if (kind != EnumNames.Generic)
            {
                var found = kind is null ? "has no kind" : $"has kind = \"{kind}\"";
                section.ErrorAtTable(
                    $"[backends.{name}] {found}: a backend other than {EnumNames.Backends.Accepted} must set kind = \"{EnumNames.Generic}\""
                    + Suggestions.DidYouMean(name, EnumNames.Backends.Names));
                continue;
            }

            generic[name] = BindGeneric(section);
        }

        return generic;
    }

    private static BackendConfig BindGeneric(TomlSection s)
    {
        var command = s.StringList("command");
        if (!s.Has("command"))
        {
            s.ErrorAtTable("missing required key 'command': the server's argv, e.g. [\"/usr/bin/server\", \"--port\", \"${PORT}\"]");
        }
        else if (command.Count == 0)
        {
            s.Error("command", "must name at least the executable");
        }
        else if (command[0].Contains("${", StringComparison.Ordinal))
        {
            s.Error("command", $"item 0 is the executable and takes no placeholder: '{command[0]}'");
        }
        else if (command[0].Contains('/', StringComparison.Ordinal))
        {
            RequireAbsolute(s, "command", command[0]);
        }

        for (var i = 0; i < command.Count; i++)
        {
            CheckPlaceholders(s, "command", $"item {i}", command[i]);
        }

        var env = s.StringMap("env");
        foreach (var (name, value) in env)
        {
            if (!EnvName().IsMatch(name))
            {
                s.Error("env", $"'{name}' is not a valid environment variable name");
            }

            CheckPlaceholders(s, "env", $"'{name}'", value);
        }

        if (command.Count > 0 && !command.Concat(env.Values).Any(a => a.Contains("${PORT}", StringComparison.Ordinal)))
        {
            s.Error("command", "no argument or env value uses ${PORT}: the server must listen on the port ullmd chooses for it");
        }

        var health = s.String("health", "/health");
        if (!health.StartsWith('/') || !Uri.TryCreate("http://127.0.0.1" + health, UriKind.Absolute, out _))
        {
            s.Error("health", $"'{health}' is not a path starting with '/', like \"/health\"");
        }

        var prefix = s.String("api_prefix", "/v1");
        if (!prefix.StartsWith('/') || !Uri.TryCreate("http://127.0.0.1" + prefix, UriKind.Absolute, out _))
        {
            s.Error("api_prefix", $"'{prefix}' is not a path starting with '/', like \"/v1\" (or \"/\" for a server whose endpoints have no prefix)");
        }

        var served = ServedEndpoints.None;
        var endpoints = s.Has("endpoints") ? s.StringList("endpoints") : ["chat", "completions"];
        foreach (var endpoint in endpoints)
        {
            if (EndpointNames.TryGetValue(endpoint, out var one))
            {
                served |= one;
            }
            else
            {
                s.Error("endpoints", $"'{endpoint}' is not an endpoint the gateway routes: one of {string.Join(", ", EndpointNames.Keys.Select(k => $"'{k}'"))}"
                    + Suggestions.DidYouMean(endpoint, EndpointNames.Keys));
            }
        }

        if (s.Has("endpoints") && endpoints.Count == 0)
        {
            s.Error("endpoints", "a backend must serve at least one endpoint");
        }

        var generic = new GenericCommand(
            command,
            health,
            (int)s.Integer("health_status", 200, 100, 599),
            TimeSpan.FromSeconds(s.Number("ready_timeout_seconds", 300, 0.1, 86400)),
            prefix,
            served);
        var config = new BackendConfig(s.Bool("enabled", true), command.Count > 0 ? command[0] : "", [], env)
        {
            MaxLoaded = (int)s.Integer("max_loaded", 0, 0, 10_000),
            Generic = generic,
        };
        s.RejectUnknownKeys();
        return config;
    }

    /// <summary>Every <c>${...}</c> in <paramref name="value"/> must be a known placeholder, and no <c>${</c> may stay open.</summary>
    private static void CheckPlaceholders(TomlSection s, string key, string where, string value)
    {
        foreach (Match m in PlaceholderPattern().Matches(value))
        {
            var name = m.Groups["name"].Value;
            if (!Placeholders.ContainsKey(name))
            {
                s.Error(key, $"{where}: unknown placeholder '${{{name}}}': use one of {string.Join(", ", Placeholders.Keys.Select(k => $"${{{k}}}"))}"
                    + Suggestions.DidYouMean(name, Placeholders.Keys));
            }
        }

        if (PlaceholderPattern().Replace(value, "").Contains("${", StringComparison.Ordinal))
        {
            s.Error(key, $"{where}: '{value}' has a '${{' without its closing '}}'");
        }
    }

    /// <summary>A model's backend: a built-in one by its key, or a generic one by its NAME; null (reported) when neither.</summary>
    private static (BackendKind Kind, string? Generic)? BindModelBackend(TomlSection s, BackendsConfig backends)
    {
        var text = s.OptionalString("backend");
        if (text is null)
        {
            if (!s.Has("backend"))
            {
                var generic = backends.Generic.Keys.Select(k => $"'{k}'");
                s.ErrorAtTable($"missing required key 'backend' (one of {string.Join(", ", EnumNames.Backends.Names.Select(k => $"'{k}'").Concat(generic))})");
            }

            return null;
        }

        if (EnumNames.Backends.ByName.TryGetValue(text, out var kind))
        {
            if (!backends.For(kind).Enabled)
            {
                s.Error("backend", $"backend '{text}' is disabled in [backends]");
            }

            return (kind, null);
        }

        if (backends.Generic.TryGetValue(text, out var genericBackend))
        {
            if (!genericBackend.Enabled)
            {
                s.Error("backend", $"backend '{text}' is disabled in [backends.{text}]");
            }

            return (BackendKind.Generic, text);
        }

        var known = EnumNames.Backends.Names.Concat(backends.Generic.Keys).ToList();
        s.Error("backend", $"'{text}' is not one of {string.Join(", ", known.Select(k => $"'{k}'"))}{Suggestions.DidYouMean(text, known)}");
        return null;
    }

    /// <summary>memory_mib (required), gpu_memory_mib and gpu_count for a generic model; refused on the built-in backends.</summary>
    private static DeclaredFootprint? BindDeclaredFootprint(TomlSection s, bool generic)
    {
        string[] keys = ["memory_mib", "gpu_memory_mib", "gpu_count"];
        if (!generic)
        {
            foreach (var key in keys.Where(s.Has))
            {
                s.Error(key, "only a model on a generic backend declares its memory; ullmd sizes llama.cpp, Ollama and vLLM loads itself");
            }

            return null;
        }

        if (!s.Has("memory_mib"))
        {
            s.ErrorAtTable("missing required key 'memory_mib': the RAM a model on a generic backend needs (ullmd cannot read every model format to size it)");
        }

        const long MaxMib = 1L << 30;
        var host = s.Integer("memory_mib", 0, 0, MaxMib);
        var gpu = s.Integer("gpu_memory_mib", 0, 0, MaxMib);
        var count = s.Integer("gpu_count", gpu > 0 ? 1 : 0, 0, 64);
        if (gpu > 0 && count == 0)
        {
            s.Error("gpu_count", "is 0 but gpu_memory_mib is set: the memory is per GPU, so at least one GPU is needed");
        }
        else if (gpu == 0 && count > 0)
        {
            s.Error("gpu_memory_mib", $"gpu_count is {count} but no gpu_memory_mib says how much memory each GPU needs");
        }

        return new DeclaredFootprint((ulong)host << 20, (ulong)gpu << 20, (int)count);
    }

    [GeneratedRegex(@"\$\{(?<name>[^}$]*)\}")]
    private static partial Regex PlaceholderPattern();
}

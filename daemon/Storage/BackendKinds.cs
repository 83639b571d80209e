using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Daemon.Storage;

/// <summary>How <see cref="BackendKind"/> is stored in <c>instances.backend</c>.</summary>
internal static class BackendKinds
{
    public static string ToDatabase(this BackendKind kind) => kind switch
    {
        BackendKind.LlamaCpp => "llama.cpp",
        BackendKind.Ollama => "ollama",
        BackendKind.Vllm => "vllm",
        BackendKind.Generic => "generic",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown backend"),
    };
}

namespace UnifiedLlm.Daemon.Backends;

/// <summary>Ollama model names: a tag without <c>:version</c> means <c>:latest</c>, so "llama3" and "llama3:latest" are one model.</summary>
internal static class OllamaTag
{
    public static string Normalize(string tag) => tag[(tag.LastIndexOf('/') + 1)..].Contains(':', StringComparison.Ordinal) ? tag : tag + ":latest";

    public static bool Same(string? a, string b) => a is not null && Normalize(a) == Normalize(b);
}

namespace UnifiedLlm.Tests.Models;

/// <summary>
/// Finds a real llama-server: $ULLM_LLAMA_SERVER, then PATH, then the per-machine build cache that
/// tests/tools/llama-server.sh fills (~/.cache/unified-llm/llama-server/&lt;version&gt;/llama-server).
/// </summary>
internal static class LlamaServerBinary
{
    public const string HowToGet =
        "no llama-server found: set ULLM_LLAMA_SERVER, put llama-server on PATH, or build the pinned one into "
        + "~/.cache/unified-llm/llama-server with tests/tools/llama-server.sh";

    public static string? Find()
    {
        if (Environment.GetEnvironmentVariable("ULLM_LLAMA_SERVER") is { Length: > 0 } fromEnvironment)
        {
            return fromEnvironment;
        }

        var onPath = (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, "llama-server"))
            .FirstOrDefault(File.Exists);
        if (onPath is not null)
        {
            return onPath;
        }

        var cacheHome = Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg
            ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        var cache = Path.Combine(cacheHome, "unified-llm", "llama-server");
        return Directory.Exists(cache)
            ? Directory.GetDirectories(cache).Select(d => Path.Combine(d, "llama-server")).Where(File.Exists).Order(StringComparer.Ordinal).LastOrDefault()
            : null;
    }
}

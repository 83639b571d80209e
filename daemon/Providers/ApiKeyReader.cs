using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Daemon.Providers;

/// <summary>Reads a provider's secret from where the config says it is: an environment variable, a file, or a systemd credential.</summary>
internal static class ApiKeyReader
{
    public static bool IsPresent(ApiKeySource source) => Read(source) is { Length: > 0 };

    /// <summary>The secret, trimmed of a trailing newline, or null when it is not there.</summary>
    public static string? Read(ApiKeySource source)
    {
        try
        {
            return source.Kind switch
            {
                ApiKeySourceKind.Environment => Environment.GetEnvironmentVariable(source.Value)?.Trim(),
                ApiKeySourceKind.File => ReadFile(source.Value),
                ApiKeySourceKind.Credential => Environment.GetEnvironmentVariable("CREDENTIALS_DIRECTORY") is { Length: > 0 } dir
                    ? ReadFile(Path.Combine(dir, source.Value))
                    : null,
                ApiKeySourceKind.Inline => source.Value,
                _ => null,
            };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string? ReadFile(string path) => File.Exists(path) ? File.ReadAllText(path).Trim() : null;
}

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
                ApiKeySourceKind.File or ApiKeySourceKind.Credential => FilePath(source) is { } path ? ReadFile(path) : null,
                ApiKeySourceKind.Inline => source.Value,
                _ => null,
            };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// The file a File or Credential source names: the path itself, or the credential of that name in
    /// $CREDENTIALS_DIRECTORY (systemd's LoadCredential=); null for other sources and when systemd passed no credentials.
    /// </summary>
    public static string? FilePath(ApiKeySource source) => source.Kind switch
    {
        ApiKeySourceKind.File => source.Value,
        ApiKeySourceKind.Credential => Environment.GetEnvironmentVariable("CREDENTIALS_DIRECTORY") is { Length: > 0 } dir
            ? Path.Combine(dir, source.Value)
            : null,
        _ => null,
    };

    private static string? ReadFile(string path) => File.Exists(path) ? File.ReadAllText(path).Trim() : null;
}

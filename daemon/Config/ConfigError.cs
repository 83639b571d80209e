namespace UnifiedLlm.Daemon.Config;

/// <summary>One problem in a config file, located by file, line, column and the dotted key path.</summary>
internal sealed record ConfigError(string File, int Line, int Column, string KeyPath, string Message)
{
    public override string ToString()
    {
        var where = Line > 0 ? $"{File}:{Line}:{Column}" : File;
        return KeyPath.Length > 0 ? $"{where}: {KeyPath}: {Message}" : $"{where}: {Message}";
    }
}

internal sealed class ConfigException(IReadOnlyList<ConfigError> errors)
    : Exception($"invalid configuration:{Environment.NewLine}{string.Join(Environment.NewLine, errors)}")
{
    public IReadOnlyList<ConfigError> Errors { get; } = errors;
}

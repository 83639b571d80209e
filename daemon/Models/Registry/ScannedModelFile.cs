namespace UnifiedLlm.Daemon.Models.Registry;

/// <summary>
/// One model (a GGUF file or a SafeTensors directory) as the registry last read it: its profile, or the error that kept it from being read (never both).
/// <see cref="SizeBytes"/> and <see cref="ModifiedAt"/> are what the file had then; a change in either means a rescan.
/// </summary>
internal sealed record ScannedModelFile(
    string Path,
    long SizeBytes,
    DateTimeOffset ModifiedAt,
    ModelProfile? Profile,
    string? Error,
    DateTimeOffset ScannedAt)
{
    public string Format { get; init; } = ModelProfile.GgufFormat;
}

namespace UnifiedLlm.Daemon.Models.SafeTensors;

/// <summary>
/// A SafeTensors model directory is malformed: a shard's header, the shard index or config.json.
/// <see cref="Offset"/> is the byte offset in <see cref="FileName"/> of the offending field, when known.
/// </summary>
internal sealed class SafeTensorsFormatException(string file, long? offset, string problem)
    : Exception(offset is { } at ? $"{file}: at byte {at}: {problem}" : $"{file}: {problem}")
{
    public string FileName { get; } = file;

    public long? Offset { get; } = offset;

    public string Problem { get; } = problem;
}

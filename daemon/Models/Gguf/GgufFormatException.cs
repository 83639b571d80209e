namespace UnifiedLlm.Daemon.Models.Gguf;

/// <summary>A GGUF file is malformed or unsupported. <see cref="Offset"/> is the byte offset of the offending field, when known.</summary>
internal sealed class GgufFormatException(string file, long? offset, string problem)
    : Exception(offset is { } at ? $"{file}: at byte {at}: {problem}" : $"{file}: {problem}")
{
    public string FileName { get; } = file;

    public long? Offset { get; } = offset;

    public string Problem { get; } = problem;
}

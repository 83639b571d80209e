namespace UnifiedLlm.Daemon.Models.Gguf;

/// <summary>A GGUF file is malformed or unsupported. <see cref="Offset"/> is the byte offset of the offending field, when known.</summary>
internal sealed class GgufFormatException : Exception
{
    public GgufFormatException(string source, long? offset, string problem)
        : base(offset is { } at ? $"{source}: at byte {at}: {problem}" : $"{source}: {problem}")
    {
        Source = source;
        Offset = offset;
        Problem = problem;
    }

    public GgufFormatException()
        : this("gguf", null, "malformed GGUF file")
    {
    }

    public GgufFormatException(string message)
        : this("gguf", null, message)
    {
    }

    public GgufFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
        Source = "gguf";
        Problem = message;
    }

    public new string Source { get; }

    public long? Offset { get; }

    public string Problem { get; }
}

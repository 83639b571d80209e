namespace UnifiedLlm.Daemon.Models.Gguf;

/// <summary>A metadata key/value pair and the byte offset of its key in the file (for error messages).</summary>
internal sealed record GgufMetadataEntry(string Key, GgufValue Value, long Offset);

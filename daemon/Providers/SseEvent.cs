namespace UnifiedLlm.Daemon.Providers;

/// <summary>One server-sent event: its type ("message" where it names none) and its data, both in UTF-8.</summary>
internal readonly record struct SseEvent(ReadOnlyMemory<byte> Type, ReadOnlyMemory<byte> Data);

using UnifiedLlm.Daemon.Models.Sizing;

namespace UnifiedLlm.Bench.MemoryAccuracy;

/// <summary>What one llama-server run showed: the kernel's view (resident memory) and llama.cpp's own buffer accounting.</summary>
internal sealed record ServerMeasurement(ProcessMemory Process, LlamaBufferReport Buffers);

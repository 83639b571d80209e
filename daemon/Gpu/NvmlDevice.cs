namespace UnifiedLlm.Daemon.Gpu;

/// <summary>An nvmlDevice_t handle together with the index it was obtained for (used in error messages).</summary>
internal readonly record struct NvmlDevice(int Index, IntPtr Handle);

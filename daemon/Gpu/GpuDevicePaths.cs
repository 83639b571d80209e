namespace UnifiedLlm.Daemon.Gpu;

/// <summary>The device nodes a process needs to use one GPU (for a unit's DeviceAllow=).</summary>
internal static class GpuDevicePaths
{
    public static readonly IReadOnlyList<string> SharedNodes = ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"];

    /// <summary>/dev/nvidia&lt;minor&gt; plus the control and UVM nodes every CUDA process opens.</summary>
    /// <exception cref="InvalidOperationException">NVML could not tell the GPU's minor number.</exception>
    public static IReadOnlyList<string> For(GpuDevice device)
    {
        if (device.MinorNumber is not { } minor)
        {
            throw new InvalidOperationException(
                $"GPU {device.Index} ({device.Uuid}) has no known minor number, so its /dev/nvidiaN node is unknown");
        }

        return [$"/dev/nvidia{minor}", .. SharedNodes];
    }
}

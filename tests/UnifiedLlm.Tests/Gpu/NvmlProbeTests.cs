using UnifiedLlm.Daemon.Gpu;

namespace UnifiedLlm.Tests.Gpu;

[Collection(FakeNvmlTests.Name)]
public sealed class NvmlProbeTests(FakeNvmlBuild fake)
{
    [Fact]
    public void Describes_library_driver_gpus_and_processes()
    {
        using var host = new FakeGpuHost(fake.Current, FakeGpuHost.TwoGpus + "\nv3_process_entry_bytes=32\ngpu1.fail.nvmlDeviceGetUUID=15\n");

        var report = NvmlProbe.Describe([host.LibraryPath]);

        Assert.Equal(
            $"""
            library: {host.LibraryPath}
            entry points: nvmlInit_v2, nvmlShutdown, nvmlErrorString, nvmlSystemGetDriverVersion, nvmlDeviceGetCount_v2, nvmlDeviceGetHandleByIndex_v2, nvmlDeviceGetName, nvmlDeviceGetUUID, nvmlDeviceGetMinorNumber, nvmlDeviceGetPciInfo_v3, nvmlDeviceGetMemoryInfo_v2, nvmlDeviceGetMemoryInfo, nvmlDeviceGetUtilizationRates, nvmlDeviceGetTemperature, nvmlDeviceGetComputeRunningProcesses_v3
            driver: 550.54.14
            GPU 0: NVIDIA H100 80GB HBM3 GPU-11111111-2222-3333-4444-555555555555 pci 00000000:17:00.0 minor 0
              memory: total 81920 MiB, used 10752 MiB, free 71168 MiB
              utilization: gpu 37 %, memory 12 %
              temperature: 45 °C
              device nodes: /dev/nvidia0 /dev/nvidiactl /dev/nvidia-uvm /dev/nvidia-uvm-tools
              compute processes: 2 (nvmlDeviceGetComputeRunningProcesses_v3, 32-byte entries)
                pid 4242: 8192 MiB
                pid 5151: 2048 MiB
            GPU 1: unreadable: nvmlDeviceGetUUID failed on GPU 1: GPU is lost (NVML return code 15, GpuIsLost)

            """,
            report);
    }

    [Fact]
    public void Describes_cpu_mode()
    {
        using var host = new FakeGpuHost(fake.OldDriver, "fail.nvmlInit=9\n");

        Assert.Equal(
            $"CPU mode: the NVIDIA driver is not loaded (nvmlInit in {host.LibraryPath}: Driver Not Loaded)\n",
            NvmlProbe.Describe([host.LibraryPath]));
    }
}

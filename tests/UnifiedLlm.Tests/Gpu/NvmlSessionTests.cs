using UnifiedLlm.Daemon.Gpu;

namespace UnifiedLlm.Tests.Gpu;

[Collection(FakeNvmlTests.Name)]
public sealed class NvmlSessionTests(FakeNvmlBuild fake)
{
    [Fact]
    public void No_library_gives_cpu_mode_naming_every_path_tried()
    {
        var missing = Path.Join(Path.GetTempPath(), $"absent-{Guid.NewGuid():N}", "libnvidia-ml.so.1");

        Assert.False(NvmlSession.TryOpen([missing, missing + ".other"], out _, out var reason));

        Assert.Equal($"no usable NVIDIA management library ({missing} not found; {missing}.other not found)", reason);
    }

    [Fact]
    public void Library_without_nvml_entry_points_gives_cpu_mode()
    {
        Assert.False(NvmlSession.TryOpen(["libc.so.6"], out _, out var reason));

        Assert.Equal("no usable NVIDIA management library (libc.so.6 lacks the entry point nvmlInit_v2 or nvmlInit)", reason);
    }

    [Fact]
    public void Driver_not_loaded_gives_cpu_mode_with_NVMLs_message()
    {
        using var host = new FakeGpuHost(fake.Current, "fail.nvmlInit=9\n");

        Assert.False(NvmlSession.TryOpen([host.LibraryPath], out _, out var reason));

        Assert.Equal($"the NVIDIA driver is not loaded (nvmlInit_v2 in {host.LibraryPath}: Driver Not Loaded)", reason);
    }

    [Fact]
    public void Other_init_failure_gives_cpu_mode_with_the_code()
    {
        using var host = new FakeGpuHost(fake.OldDriver, "fail.nvmlInit=4\n");

        Assert.False(NvmlSession.TryOpen([host.LibraryPath], out _, out var reason));

        Assert.Equal(
            $"NVML did not initialise (nvmlInit failed: Insufficient Permissions (NVML return code 4, NoPermission); library {host.LibraryPath})",
            reason);
    }

    [Fact]
    public void Zero_gpus_gives_cpu_mode()
    {
        using var host = new FakeGpuHost(fake.Current, "driver_version=550.54.14\ngpu_count=0\n");

        Assert.False(NvmlSession.TryOpen([host.LibraryPath], out _, out var reason));

        Assert.Equal($"NVML ({host.LibraryPath}, driver 550.54.14) reports no GPUs", reason);
    }

    [Fact]
    public void Candidates_are_tried_in_order()
    {
        using var host = new FakeGpuHost(fake.Current, FakeGpuHost.TwoGpus);
        var missing = Path.Join(Path.GetTempPath(), $"absent-{Guid.NewGuid():N}.so");

        Assert.True(NvmlSession.TryOpen([missing, host.LibraryPath], out var session, out var reason), reason);
        using (session)
        {
            Assert.Equal(host.LibraryPath, session.Library.Path);
            Assert.Equal(2, session.GpuCount);
        }
    }

    [Fact]
    public void Search_order_is_configured_path_then_nixos_then_loader_default()
    {
        Assert.Equal(
            ["/opt/nvidia/libnvidia-ml.so.1", "/run/opengl-driver/lib/libnvidia-ml.so.1", "libnvidia-ml.so.1"],
            NvmlLibrarySearch.Candidates("/opt/nvidia/libnvidia-ml.so.1"));
        Assert.Equal(["/run/opengl-driver/lib/libnvidia-ml.so.1", "libnvidia-ml.so.1"], NvmlLibrarySearch.Candidates(null));
    }
}

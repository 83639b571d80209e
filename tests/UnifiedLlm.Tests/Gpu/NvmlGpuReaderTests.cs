using UnifiedLlm.Daemon.Gpu;

namespace UnifiedLlm.Tests.Gpu;

/// <summary>The real P/Invoke binding against the fake libnvidia-ml built from C (no NVIDIA GPU on test machines).</summary>
[Collection(FakeNvmlTests.Name)]
public sealed class NvmlGpuReaderTests(FakeNvmlBuild fake)
{
    private static readonly DateTimeOffset Now = new(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Reads_two_gpus_with_versioned_entry_points()
    {
        using var host = new FakeGpuHost(fake.Current, FakeGpuHost.TwoGpus);
        using var session = Open(host);

        var reading = NvmlGpuReader.Read(session.Library, new Dictionary<int, string> { [4242] = "ullm-llama-1.service" }, Now);

        Assert.Empty(reading.Failures);
        AssertTwoGpus(reading.Snapshot);
        Assert.Equal(
            ["nvmlInit_v2", "nvmlDeviceGetCount_v2", "nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetPciInfo_v3",
             "nvmlDeviceGetMemoryInfo_v2", "nvmlDeviceGetComputeRunningProcesses_v3"],
            session.Library.BoundSymbols.Where(s => s.Contains("_v", StringComparison.Ordinal)));
    }

    [Fact]
    public void Old_driver_without_versioned_entry_points_reads_the_same()
    {
        using var host = new FakeGpuHost(fake.OldDriver, FakeGpuHost.TwoGpus);
        using var session = Open(host);

        var reading = NvmlGpuReader.Read(session.Library, new Dictionary<int, string> { [4242] = "ullm-llama-1.service" }, Now);

        Assert.Empty(reading.Failures);
        AssertTwoGpus(reading.Snapshot);
        Assert.DoesNotContain(session.Library.BoundSymbols, s => s.Contains("_v", StringComparison.Ordinal));
        Assert.Contains("nvmlInit", session.Library.BoundSymbols);
        Assert.Equal(16, session.Library.GetComputeRunningProcesses(session.Library.GetDevice(0)).EntryBytes);
    }

    [Fact]
    public void Driver_without_v3_entry_points_uses_the_v2_ones()
    {
        using var host = new FakeGpuHost(fake.WithoutV3, FakeGpuHost.TwoGpus);
        using var session = Open(host);

        var reading = NvmlGpuReader.Read(session.Library, new Dictionary<int, string> { [4242] = "ullm-llama-1.service" }, Now);

        AssertTwoGpus(reading.Snapshot);
        Assert.Contains("nvmlDeviceGetPciInfo_v2", session.Library.BoundSymbols);
        var processes = session.Library.GetComputeRunningProcesses(session.Library.GetDevice(0));
        Assert.Equal(("nvmlDeviceGetComputeRunningProcesses_v2", 24), (processes.Symbol, processes.EntryBytes));
    }

    [Fact]
    public void Gpu_is_lost_becomes_an_NvmlException_with_NVMLs_message_and_leaves_that_gpu_out()
    {
        using var host = new FakeGpuHost(fake.Current, FakeGpuHost.TwoGpus + "\ngpu1.fail.nvmlDeviceGetMemoryInfo=15\n");
        using var session = Open(host);

        var error = Assert.Throws<NvmlException>(() => session.Library.GetMemory(session.Library.GetDevice(1)));
        Assert.Equal(NvmlReturn.GpuIsLost, error.Code);
        Assert.Equal("GPU is lost", error.NvmlMessage);
        Assert.Equal("nvmlDeviceGetMemoryInfo_v2", error.Function);
        Assert.Equal(1, error.GpuIndex);
        Assert.Equal("nvmlDeviceGetMemoryInfo_v2 failed on GPU 1: GPU is lost (NVML return code 15, GpuIsLost)", error.Message);

        var reading = NvmlGpuReader.Read(session.Library, new Dictionary<int, string>(), Now);
        Assert.Equal([0], reading.Snapshot.Devices.Select(d => d.Index));
        var failure = Assert.Single(reading.Failures);
        Assert.Equal(1, failure.Index);
        Assert.Equal(NvmlReturn.GpuIsLost, Assert.IsType<NvmlException>(failure.Error).Code);
    }

    [Fact]
    public void Memory_v2_refused_by_the_driver_falls_back_to_the_unversioned_call()
    {
        using var host = new FakeGpuHost(fake.Current, FakeGpuHost.TwoGpus + "\ngpu0.fail.nvmlDeviceGetMemoryInfo_v2=3\n");
        using var session = Open(host);

        var memory = session.Library.GetMemory(session.Library.GetDevice(0));

        Assert.Equal((85899345920ul, 11274289152ul, 74625056768ul), memory);
    }

    [Fact]
    public void Not_supported_fields_read_as_null()
    {
        var config = FakeGpuHost.TwoGpus + "\ngpu0.fail.nvmlDeviceGetUtilizationRates=3\ngpu0.fail.nvmlDeviceGetMinorNumber=3\n";
        using var host = new FakeGpuHost(fake.Current, config);
        using var session = Open(host);

        var reading = NvmlGpuReader.Read(session.Library, new Dictionary<int, string>(), Now);

        var gpu0 = reading.Snapshot.Devices[0];
        Assert.Null(gpu0.UtilizationPercent);
        Assert.Null(gpu0.MemoryUtilizationPercent);
        Assert.Null(gpu0.MinorNumber);
        Assert.Equal(45u, gpu0.TemperatureCelsius);
        Assert.Null(reading.Snapshot.Devices[1].TemperatureCelsius); // the A10 in the table has no sensor
        var error = Assert.Throws<InvalidOperationException>(() => GpuDevicePaths.For(gpu0));
        Assert.Contains("GPU 0", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_failure_other_than_not_supported_on_an_optional_field_is_an_error()
    {
        using var host = new FakeGpuHost(fake.Current, FakeGpuHost.TwoGpus + "\ngpu0.fail.nvmlDeviceGetTemperature=4\n");
        using var session = Open(host);

        var error = Assert.Throws<NvmlException>(() => session.Library.GetTemperature(session.Library.GetDevice(0)));

        Assert.Equal((NvmlReturn.NoPermission, "Insufficient Permissions"), (error.Code, error.NvmlMessage));
    }

    [Fact]
    public void Process_list_that_grows_between_calls_is_asked_for_again()
    {
        var config = FakeGpuHost.TwoGpus + "\ngpu0.processes_grow_by=3\ngpu0.processes_grow_times=2\n";
        using var host = new FakeGpuHost(fake.Current, config);
        using var session = Open(host);

        var processes = session.Library.GetComputeRunningProcesses(session.Library.GetDevice(0));

        Assert.Equal(8, processes.Entries.Count);
        Assert.Equal([4242, 5151], processes.Entries.Take(2).Select(p => p.Pid));
        Assert.All(processes.Entries.Skip(2), p => Assert.Equal(1048576ul, p.UsedBytes));
        Assert.Equal(6, processes.Entries.Skip(2).Select(p => p.Pid).Distinct().Count());
    }

    [Fact]
    public void Process_list_that_never_settles_fails_with_insufficient_size()
    {
        var config = FakeGpuHost.TwoGpus + "\ngpu0.processes_grow_by=1\ngpu0.processes_grow_times=100\n";
        using var host = new FakeGpuHost(fake.Current, config);
        using var session = Open(host);

        var error = Assert.Throws<NvmlException>(() => session.Library.GetComputeRunningProcesses(session.Library.GetDevice(0)));

        Assert.Equal(NvmlReturn.InsufficientSize, error.Code);
        Assert.Contains("kept growing", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void R535_driver_writing_32_byte_entries_through_v3_is_detected()
    {
        var config = FakeGpuHost.TwoGpus + "\nv3_process_entry_bytes=32\ngpu0.process=6060:1073741824\n";
        using var host = new FakeGpuHost(fake.Current, config);
        using var session = Open(host);

        var processes = session.Library.GetComputeRunningProcesses(session.Library.GetDevice(0));

        Assert.Equal(32, processes.EntryBytes);
        Assert.Equal(
            [new NvmlProcessEntry(4242, 8589934592), new NvmlProcessEntry(5151, 2147483648), new NvmlProcessEntry(6060, 1073741824)],
            processes.Entries);
    }

    [Fact]
    public void Single_32_byte_entry_is_detected()
    {
        var config = FakeGpuHost.TwoGpus.Replace("gpu0.process=5151:2147483648\n", "", StringComparison.Ordinal) + "\nv3_process_entry_bytes=32\n";
        using var host = new FakeGpuHost(fake.Current, config);
        using var session = Open(host);

        var processes = session.Library.GetComputeRunningProcesses(session.Library.GetDevice(0));

        Assert.Equal((32, 1), (processes.EntryBytes, processes.Entries.Count));
        Assert.Equal(new NvmlProcessEntry(4242, 8589934592), processes.Entries[0]);
    }

    [Fact]
    public void Error_strings_are_NVMLs()
    {
        using var host = new FakeGpuHost(fake.Current, FakeGpuHost.TwoGpus);
        using var session = Open(host);

        Assert.Equal("Driver Not Loaded", session.Library.ErrorString(NvmlReturn.DriverNotLoaded));
        Assert.Equal("Not Supported", session.Library.ErrorString(NvmlReturn.NotSupported));
    }

    private static NvmlSession Open(FakeGpuHost host)
    {
        Assert.True(NvmlSession.TryOpen([host.LibraryPath], out var session, out var reason), reason);
        return session;
    }

    private static void AssertTwoGpus(GpuSnapshot snapshot)
    {
        Assert.Equal(Now, snapshot.TakenAt);
        Assert.Null(snapshot.CpuModeReason);
        Assert.Equal("550.54.14", snapshot.DriverVersion);
        Assert.Equal(2, snapshot.Devices.Count);

        var h100 = snapshot.Devices[0];
        Assert.Equal(
            (0, "NVIDIA H100 80GB HBM3", "GPU-11111111-2222-3333-4444-555555555555", "00000000:17:00.0", 0),
            (h100.Index, h100.Name, h100.Uuid, h100.PciBusId, h100.MinorNumber));
        Assert.Equal((85899345920ul, 11274289152ul, 74625056768ul), (h100.TotalBytes, h100.UsedBytes, h100.FreeBytes));
        Assert.Equal((37u, 12u, 45u), (h100.UtilizationPercent, h100.MemoryUtilizationPercent, h100.TemperatureCelsius));
        Assert.Equal(
            [new GpuProcess(4242, 8589934592, "ullm-llama-1.service"), new GpuProcess(5151, 2147483648, null)],
            h100.Processes);
        Assert.Equal(["/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"], GpuDevicePaths.For(h100));

        var a10 = snapshot.Devices[1];
        Assert.Equal((1, "NVIDIA A10", "00000000:B3:00.0", 3), (a10.Index, a10.Name, a10.PciBusId, a10.MinorNumber));
        Assert.Equal((24146608128ul, 0ul, 24146608128ul), (a10.TotalBytes, a10.UsedBytes, a10.FreeBytes));
        Assert.Null(a10.TemperatureCelsius);
        Assert.Empty(a10.Processes);
        Assert.Equal("/dev/nvidia3", GpuDevicePaths.For(a10)[0]);
    }
}

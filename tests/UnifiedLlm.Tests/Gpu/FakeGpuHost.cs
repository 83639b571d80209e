namespace UnifiedLlm.Tests.Gpu;

/// <summary>
/// A private copy of one fake libnvidia-ml variant plus its GPU table (the fake reads "&lt;library&gt;.conf"), so each test
/// has its own library instance and table. <see cref="Configure"/> may be called again between polls.
/// </summary>
public sealed class FakeGpuHost : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("ullm-gpu-host-").FullName;

    public FakeGpuHost(string variant, string config)
    {
        LibraryPath = Path.Join(directory, "libnvidia-ml.so.1");
        File.Copy(variant, LibraryPath);
        Configure(config);
    }

    public string LibraryPath { get; }

    /// <summary>Two GPUs: an H100 running two processes, and an A10 (no temperature sensor) running none.</summary>
    public const string TwoGpus = """
        driver_version=550.54.14
        gpu_count=2
        gpu0.name=NVIDIA H100 80GB HBM3
        gpu0.uuid=GPU-11111111-2222-3333-4444-555555555555
        gpu0.pci_bus_id=00000000:17:00.0
        gpu0.minor=0
        gpu0.memory_total=85899345920
        gpu0.memory_used=10737418240
        gpu0.memory_reserved=536870912
        gpu0.utilization_gpu=37
        gpu0.utilization_memory=12
        gpu0.temperature=45
        gpu0.process=4242:8589934592
        gpu0.process=5151:2147483648
        gpu1.name=NVIDIA A10
        gpu1.uuid=GPU-66666666-7777-8888-9999-000000000000
        gpu1.pci_bus_id=00000000:B3:00.0
        gpu1.minor=3
        gpu1.memory_total=24146608128
        gpu1.memory_used=0
        gpu1.utilization_gpu=0
        gpu1.utilization_memory=0
        """;

    public void Configure(string config) => File.WriteAllText(LibraryPath + ".conf", config);

    public void Dispose() => Directory.Delete(directory, recursive: true);
}

using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Tests.Gpu;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Ctl;

/// <summary>
/// A real ullmd for ullmctl tests: the fake libnvidia-ml with two GPUs (or none: CPU mode), the tiny GGUF model configured
/// as "tiny" and found again by the [scan] directory, and a broken GGUF next to it. Runs the real ullmctl at a fixed width.
/// </summary>
internal sealed class CtlHost : IAsyncDisposable
{
    public const int Columns = 160;

    private readonly TempDirectory dir;
    private readonly FakeGpuHost? gpus;

    private CtlHost(TempDirectory dir, FakeGpuHost? gpus, DaemonProcess daemon)
    {
        this.dir = dir;
        this.gpus = gpus;
        Daemon = daemon;
    }

    public DaemonProcess Daemon { get; }

    public string ModelsDirectory => dir.File("models");

    public string TinyModelPath => dir.File("models/tiny.gguf");

    public string BrokenModelPath => dir.File("models/broken.gguf");

    public static async Task<CtlHost> StartAsync(FakeNvmlBuild? nvml, string extraConfig = "", string gpuTable = FakeGpuHost.TwoGpus)
    {
        var dir = new TempDirectory("ullm-ctl");
        var gpus = nvml is null ? null : new FakeGpuHost(nvml.Current, gpuTable);
        try
        {
            Directory.CreateDirectory(dir.File("models"));
            TinyModel.Write(dir.File("models/tiny.gguf"));
            dir.Write("models/broken.gguf", "GGUF but not really");
            var library = gpus?.LibraryPath ?? dir.File("no-such-libnvidia-ml.so.1");
            var paths = DaemonProcess.WriteConfig(dir, $"""
                [gpu]
                nvml_library = "{library}"
                reserve_mib = 512

                [scan]
                directories = ["{dir.File("models")}"]

                [models.tiny]
                backend = "llamacpp"
                source = "{dir.File("models/tiny.gguf")}"
                aliases = ["small"]
                context = 256

                {extraConfig}
                """);
            var daemon = await DaemonProcess.StartAsync(dir, paths);
            return new CtlHost(dir, gpus, daemon);
        }
        catch
        {
            gpus?.Dispose();
            dir.Dispose();
            throw;
        }
    }

    /// <summary>The fake GPU table, to change between two reads.</summary>
    public FakeGpuHost Gpus => gpus ?? throw new InvalidOperationException("this host runs in CPU mode");

    public Task<ProcessResult> CtlAsync(params string[] arguments) => CtlAsync(new Dictionary<string, string>(), arguments);

    /// <summary>ullmctl with <paramref name="environment"/> added to its own (a time zone, say).</summary>
    public Task<ProcessResult> CtlAsync(IReadOnlyDictionary<string, string> environment, params string[] arguments) =>
        ProcessRunner.DotnetAsync(
            RepoPaths.Ullmctl,
            arguments.Prepend(Daemon.Paths.AdminSocket).Prepend("--socket"),
            new Dictionary<string, string>(environment) { ["COLUMNS"] = Columns.ToString(System.Globalization.CultureInfo.InvariantCulture) });

    public async ValueTask DisposeAsync()
    {
        await Daemon.DisposeAsync();
        gpus?.Dispose();
        dir.Dispose();
    }
}

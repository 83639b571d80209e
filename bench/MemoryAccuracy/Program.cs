using UnifiedLlm.Bench;
using UnifiedLlm.Bench.MemoryAccuracy;
using UnifiedLlm.Daemon.Models;
using UnifiedLlm.Daemon.Models.Gguf;
using UnifiedLlm.Daemon.Models.Sizing;

// usage: MemoryAccuracy LLAMA_SERVER RESULTS.md WORK_DIR
if (args.Length != 3)
{
    await Console.Error.WriteLineAsync("usage: MemoryAccuracy LLAMA_SERVER RESULTS.md WORK_DIR");
    return 2;
}

var (llamaServer, resultsFile, work) = (args[0], args[1], args[2]);
Directory.CreateDirectory(work);
const ulong Context = 2048;
RandomModelShape[] shapes =
[
    new(1024, 16, 16, 16, 2816, 4096),
    new(2048, 16, 4, 16, 5632, 4096),
];

var estimator = new LlamaCppMemoryEstimator(new LlamaCppSizingSettings());
var rows = new List<MeasuredLoad>();
foreach (var shape in shapes)
{
    var path = Path.Combine(work, $"random-{shape.EmbeddingLength}x{shape.LayerCount}.gguf");
    if (!File.Exists(path))
    {
        Console.Error.WriteLine($"writing {path}");
        TinyModel.Write(path, shape, GgmlType.F16);
    }

    var profile = ModelProfileReader.Read(path, CancellationToken.None);
    var estimate = estimator.EstimateCpuOnly(profile, Context, GgmlType.F16);
    var measured = await LlamaServerRun.MeasureAsync(llamaServer, path, Context);
    rows.Add(new MeasuredLoad(Path.GetFileName(path), profile.ParameterCount, new FileInfo(path).Length, estimate, measured));
    Console.Error.WriteLine($"{path}: estimate {estimate.HostTotalBytes >> 20} MiB, llama.cpp buffers {measured.Buffers.Host.TotalBytes >> 20} MiB, VmHWM {measured.Process.PeakResidentBytes >> 20} MiB");
}

var section = ResultsSection.Render(rows, Context, llamaServer);
ResultsFile.ReplaceSection(resultsFile, "memory-accuracy", section);
Console.WriteLine(section);
return 0;

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
List<AccuracyCase> cases = [];
// Every slot count and KV type with F16 weights; the quantized weights only change the weights term, so they get the
// two ends: one slot with an F16 cache, four with a q8_0 one.
(int Slots, KvCacheType Cache)[] allLoads = [(1, KvCacheType.F16), (1, GgmlType.Q8_0), (4, KvCacheType.F16), (4, GgmlType.Q8_0)];
foreach (var shape in new[] { RandomModelShape.Qwen25_05B, RandomModelShape.Llama32_1B })
{
    foreach (var weights in new[] { GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0 })
    {
        foreach (var (slots, cache) in weights == GgmlType.F16 ? allLoads : [allLoads[0], allLoads[^1]])
        {
            cases.Add(new(shape, weights, RandomWeights: false, slots, cache));
        }
    }
}

cases.Add(new(new RandomModelShape(1024, 16, 16, 16, 2816, 4096), GgmlType.F16, RandomWeights: true, 1, KvCacheType.F16));
cases.Add(new(new RandomModelShape(2048, 16, 4, 16, 5632, 4096), GgmlType.F16, RandomWeights: true, 1, KvCacheType.F16));

var estimator = new LlamaCppMemoryEstimator(new LlamaCppSizingSettings());
var rows = new List<MeasuredLoad>();
foreach (var load in cases)
{
    var path = load.EnsureModel(work);
    var profile = ModelProfileReader.Read(path, CancellationToken.None);
    var estimate = estimator.EstimateCpuOnly(profile, Context, load.Cache, load.Slots);
    var measured = await LlamaServerRun.MeasureAsync(llamaServer, path, LlamaCppMemoryEstimator.TotalContext(Context, load.Slots), load.Slots, load.Cache);
    rows.Add(new MeasuredLoad(load, profile.ParameterCount, profile.VocabSize, estimate, measured));
    Console.Error.WriteLine($"{load}: estimate {estimate.Breakdown()}; llama.cpp model {measured.Buffers.Host.ModelBytes >> 20} MiB, KV {measured.Buffers.Host.KvBytes >> 20} MiB, compute {measured.Buffers.Host.ComputeBytes >> 20} MiB; VmHWM {measured.Process.PeakResidentBytes >> 20} MiB");
}

var section = ResultsSection.Render(rows, Context, llamaServer);
ResultsFile.ReplaceSection(resultsFile, "memory-accuracy", section);
Console.WriteLine(section);
return 0;

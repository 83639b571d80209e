using System.Globalization;
using UnifiedLlm.Bench;
using UnifiedLlm.Bench.SchedulerBench;

// usage: SchedulerBench --llama-server PATH --out RESULTS.md --label before|after --commit SHA [--seconds 5] [--rounds 3]
var options = args.Chunk(2).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
string Option(string name) => options.TryGetValue(name, out var v) ? v : throw new ArgumentException($"missing {name}");
int Number(string name, int fallback) => options.TryGetValue(name, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
var seconds = Number("--seconds", 5);
var rounds = Number("--rounds", 3);
var label = Option("--label");
var ct = CancellationToken.None;

await using var bed = await SchedulerBed.StartAsync(Option("--llama-server"), ct);
var loadBefore = File.ReadAllText("/proc/loadavg").Split(' ')[0];
var steps = new List<LeaseLoad.Step>();
foreach (var requesters in new[] { 1, 16, 256 })
{
    // Untimed: JIT, thread pool growth to the requesters' level.
    await LeaseLoad.RunAsync(bed.Scheduler, SchedulerBed.Model, requesters, TimeSpan.FromSeconds(1), ct);
    var measured = new List<LeaseLoad.Step>();
    for (var round = 0; round < rounds; round++)
    {
        measured.Add(await LeaseLoad.RunAsync(bed.Scheduler, SchedulerBed.Model, requesters, TimeSpan.FromSeconds(seconds), ct));
    }

    var median = measured.OrderBy(s => s.PerSecond).ElementAt(measured.Count / 2);
    Console.Error.WriteLine($"{requesters} requesters: {string.Join(", ", measured.Select(s => s.PerSecond.ToString("F0", CultureInfo.InvariantCulture)))} /s; median round p99 {median.P99Microseconds:F0} µs");
    steps.Add(median);
}

var loadAfter = File.ReadAllText("/proc/loadavg").Split(' ')[0];
var section = LeaseLoad.Section(label, Option("--commit"), seconds, rounds, steps, loadBefore, loadAfter);
ResultsFile.ReplaceSection(Option("--out"), $"scheduler-{label}", section);
Console.Write(section);

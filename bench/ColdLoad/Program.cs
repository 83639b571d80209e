using System.Globalization;
using System.Text;
using UnifiedLlm.Bench;
using UnifiedLlm.Bench.ColdLoad;

// usage: ColdLoad --ullmd PATH/ullmd (the Native AOT publish) --llama-server PATH --model tiny.gguf --out RESULTS.md [--runs 10]
//        [--also PATH/ullmd: another build, loaded in turn with the others in the same run, to compare a change with its base]
var options = args.Chunk(2).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
string Option(string name) => options.TryGetValue(name, out var v) ? v : throw new ArgumentException($"missing {name}");
var runs = options.TryGetValue("--runs", out var r) ? int.Parse(r, CultureInfo.InvariantCulture) : 10;
var ct = CancellationToken.None;
var work = Directory.CreateTempSubdirectory("ullm-coldload-");
try
{
    // Two models, each its own file, so a swap reads a different model than the one it replaces.
    var modelA = Path.Combine(work.FullName, "a.gguf");
    var modelB = Path.Combine(work.FullName, "b.gguf");
    File.Copy(Option("--model"), modelA);
    File.Copy(Option("--model"), modelB);
    var models = new Dictionary<string, string> { ["a"] = modelA, ["b"] = modelB };
    await using var ullmd = await UllmdDaemon.StartAsync(Option("--ullmd"), Option("--llama-server"), models, work.CreateSubdirectory("ullmd"), ct);
    await using var also = options.TryGetValue("--also", out var alsoPath)
        ? await UllmdDaemon.StartAsync(alsoPath, Option("--llama-server"), models, work.CreateSubdirectory("also"), ct)
        : null;
    using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromMinutes(2) };

    // Warm-up, untimed: page cache on both paths, ullmd's own llama-server argv for the direct runs, and a few loads
    // so that the first timed load finds what a long-running ullmd has (files cached, connections pooled).
    const int warmUpLoads = 5;
    await ullmd.EnsureLoadedAsync("a", ct);
    var command = await ullmd.BackendCommandAsync("a", ct);
    await ullmd.UnloadAsync("a", ct);
    for (var i = 1; i < warmUpLoads; i++)
    {
        await ullmd.EnsureLoadedAsync("a", ct);
        await ullmd.UnloadAsync("a", ct);
    }

    await ullmd.EnsureLoadedAsync("b", ct);
    await ullmd.UnloadAsync("b", ct);
    for (var i = 0; also is not null && i < warmUpLoads; i++)
    {
        await also.EnsureLoadedAsync("a", ct);
        await also.UnloadAsync("a", ct);
    }

    await DirectLoad.RunAsync(command, throughSetsid: false, http, ct);
    Console.Error.WriteLine($"llama-server argv (ullmd's): {command}");

    var loadBefore = File.ReadAllText("/proc/loadavg").Split(' ')[0];
    var direct = new List<DirectSample>();
    var setsid = new List<DirectSample>();
    var through = new List<UllmdSample>();
    var alsoThrough = new List<UllmdSample>();
    List<Func<Task>> paths =
    [
        async () => direct.Add(await DirectLoad.RunAsync(command, throughSetsid: false, http, ct)),
        async () => setsid.Add(await DirectLoad.RunAsync(command, throughSetsid: true, http, ct)),
        async () =>
        {
            through.Add(await ullmd.ColdLoadAsync("a", ct));
            await ullmd.UnloadAsync("a", ct);
        },
    ];
    if (also is not null)
    {
        paths.Add(async () =>
        {
            alsoThrough.Add(await also.ColdLoadAsync("a", ct));
            await also.UnloadAsync("a", ct);
        });
    }

    for (var i = 0; i < runs; i++)
    {
        // Rotating which path goes first spreads the drift of a shared machine over all three.
        for (var p = 0; p < paths.Count; p++)
        {
            await paths[(i + p) % paths.Count]();
        }

        Console.Error.WriteLine($"run {i + 1}/{runs}: direct {direct[^1]}, setsid {setsid[^1].TotalMs:0.0} ms, through ullmd {through[^1]}"
            + (also is null ? "" : $", through the --also build {alsoThrough[^1]}"));
    }

    var unloads = new List<double>();
    var swaps = new List<UllmdSample>();
    for (var i = 0; i < runs; i++)
    {
        await ullmd.EnsureLoadedAsync("a", ct);
        unloads.Add(await ullmd.UnloadAsync("a", ct));
        swaps.Add(await ullmd.ColdLoadAsync("b", ct));
        await ullmd.UnloadAsync("b", ct);
        Console.Error.WriteLine($"swap {i + 1}/{runs}: unload a {unloads[^1]:0.0} ms, then b's first token {swaps[^1].FirstTokenMs:0.0} ms");
    }

    var loadAverages = $"{loadBefore} at the start, {File.ReadAllText("/proc/loadavg").Split(' ')[0]} at the end";
    var report = ColdLoadReport.Write(command, direct, setsid, through, unloads, swaps, Option("--llama-server"), loadAverages)
        + (also is null ? "" : ColdLoadReport.SideBySide(direct, through, Option("--ullmd"), alsoThrough, alsoPath!));
    ResultsFile.ReplaceSection(Option("--out"), "cold-load", report);
    Console.WriteLine(report);
    return 0;
}
finally
{
    work.Delete(recursive: true);
}

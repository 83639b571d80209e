using System.Globalization;
using System.Text;

namespace UnifiedLlm.Bench.ColdLoad;

/// <summary>The "cold-load" section of bench/RESULTS.md: the paired comparison, where the time goes, and swaps.</summary>
internal static class ColdLoadReport
{
    private const double OverheadTargetMs = 50;
    private const double DetectionTargetMs = 10;

    public static string Write(BackendCommand command, IReadOnlyList<DirectSample> direct, IReadOnlyList<DirectSample> setsid, IReadOnlyList<UllmdSample> through, IReadOnlyList<double> unloads, IReadOnlyList<UllmdSample> swaps, string llamaServer, string loadAverages)
    {
        var overhead = Spread.Of(direct.Zip(through, (d, u) => u.FirstTokenMs - d.TotalMs));
        var directTotal = Spread.Of(direct.Select(d => d.TotalMs));
        var throughTotal = Spread.Of(through.Select(u => u.FirstTokenMs));
        var detection = Spread.Of(through.Select(u => u.DetectionMs));
        var text = new StringBuilder();
        void Line(FormattableString line) => text.AppendLine(line.ToString(CultureInfo.InvariantCulture));

        Line($"## Cold load: through ullmd vs llama-server started directly");
        Line($"");
        Line($"Run {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC on {Machine()}, with `bash bench/cold-load.sh` ({direct.Count} runs of each, in one run,");
        Line($"rotating which of the three goes first). llama-server: `{llamaServer}`, CPU only, the tiny test model (0.5 MB), started");
        Line($"with the argv ullmd gave it (read back from /proc): `{command}` (the port changes).");
        Line($"");
        Line($"- **direct**: the benchmark spawns llama-server, polls GET /health every 1 ms until 200, then sends a streamed chat");
        Line($"  (max_tokens 8, ignore_eos, temperature 0: the same tokens every time) and times its first content token.");
        Line($"- **through ullmd**: one ullmd, the Native AOT publish that ships (process supervisor, unix socket,");
        Line($"  `log_level = \"warning\"`) for the whole run, after five untimed loads (page cache, connection pools); a");
        Line($"  streamed chat for the unloaded model, timed from sending to its first content token. Between runs the model is");
        Line($"  unloaded through the admin API (`UnloadModel`, as `ullmctl unload` does), outside the timing.");
        Line($"- **direct through setsid**: the same, exec'd through `setsid`, which puts llama-server in a session (and so a");
        Line($"  scheduler autogroup) of its own, as ullmd's process supervisor does (with posix_spawn, without setsid's exec);");
        Line($"  it shows what a session of its own does to llama-server's start on this machine.");
        Line($"- **overhead** = through ullmd − (direct start-to-ready + direct ready-to-first-token), paired run by run.");
        Line($"");
        Line($"| measure | p50 ms | min ms | max ms |");
        Line($"|---|---:|---:|---:|");
        Line($"| direct: spawn → first /health 200 | {Spread.Of(direct.Select(d => d.StartToReadyMs)).Cells} |");
        Line($"| direct: ready → first token | {Spread.Of(direct.Select(d => d.ReadyToFirstTokenMs)).Cells} |");
        Line($"| direct: total | {directTotal.Cells} |");
        Line($"| direct through setsid (as ullmd's supervisor starts it): total | {Spread.Of(setsid.Select(d => d.TotalMs)).Cells} |");
        Line($"| through ullmd: chat sent → first token | {throughTotal.Cells} |");
        Line($"| **overhead** (through ullmd − direct total) | {overhead.Cells} |");
        Line($"");
        Line($"Ratio of the medians, through ullmd / direct: {throughTotal.P50 / directTotal.P50:0.00}x.");
        Line($"");
        Line($"Where the time goes (p50, min–max, ms). llama-server stamps each log line with its own clock, and prints \"model");
        Line($"loaded\" as /health turns 200; its clock's start on the wall clock is the earliest (arrival − stamp) over its lines, as");
        Line($"read by the benchmark: from llama-server's stdout (direct), or from the output file ullmd's process supervisor");
        Line($"writes, followed every millisecond (through ullmd). The clock starts a moment after exec.");
        Line($"");
        Line($"| step | direct | direct through setsid | through ullmd |");
        Line($"|---|---:|---:|---:|");
        Line($"| spawn (direct) or chat sent (ullmd) → llama-server's log clock starts | {Cell(direct.Select(d => d.SpawnToLogStartMs))} | {Cell(setsid.Select(d => d.SpawnToLogStartMs))} | {Cell(through.Select(u => u.RequestToLogStartMs))} |");
        Line($"| llama-server's own load, its log clock at \"model loaded\" | {Cell(direct.Select(d => d.LoadMs))} | {Cell(setsid.Select(d => d.LoadMs))} | {Cell(through.Select(u => u.LoadMs))} |");
        Line($"| readiness detected after llama-server was ready (direct: 1 ms poll; ullmd: its \"load\" event) | {Cell(direct.Select(d => d.DetectionMs))} | {Cell(setsid.Select(d => d.DetectionMs))} | {Cell(through.Select(u => u.DetectionMs))} |");
        Line($"| ready → first token | {Cell(direct.Select(d => d.ReadyToFirstTokenMs))} | {Cell(setsid.Select(d => d.ReadyToFirstTokenMs))} | {Cell(through.Select(u => u.ReadyToFirstTokenMs))} |");
        Line($"");
        var before = Spread.Of(through.Select(u => u.RequestToLogStartMs)).P50 - Spread.Of(direct.Select(d => d.SpawnToLogStartMs)).P50;
        var forwarding = Spread.Of(through.Select(u => u.ReadyToFirstTokenMs)).P50 - Spread.Of(direct.Select(d => d.ReadyToFirstTokenMs)).P50;
        var own = before + detection.P50 + forwarding;
        Line($"Reading it: the machine has 2 cores shared with other jobs (load average {loadAverages}), and llama-server's own");
        Line($"load and first decode vary tenfold from run to run, so the totals and their difference mostly measure contention.");
        Line($"What ullmd itself adds is in the steps it owns: the time before the backend runs (gateway, scheduler, plan, port, the");
        Line($"spawn), against the bench's plain spawn; readiness detection; and ready → first token (the gateway forwarding the");
        Line($"chat), against direct's. At the median that is {before:0.0} + {detection.P50:0.0} + {forwarding:0.0} = **{own:0.0} ms**.");
        Line($"llama-server started through setsid runs in a session, and so a scheduler autogroup, of its own, as under ullmd (a");
        Line($"systemd unit's cgroup is similar); on a busy machine that changes its share of the CPU, in either direction from run");
        Line($"to run, which is why it is measured on its own. A negative detection means every log line of that load reached its");
        Line($"reader late, so that estimate of the ready moment is late too.");
        Line($"The tiny model's GGUF is read in well under a millisecond; a real model's is not: reading the metadata of one with a");
        Line($"Llama-3-sized vocabulary (128k tokens, 280k merges) took 130–800 ms here (measured separately), once per load before");
        Line($"ullmd kept profiles in memory (read again only when the file's size or mtime changes).");
        Line($"");
        Line($"Targets: ullmd adds ≤ {OverheadTargetMs:0} ms to a cold load: by its own steps, {(own <= OverheadTargetMs ? "met" : "not met")} ({own:0.0} ms at the median); by the paired");
        Line($"totals, {Verdict(overhead, OverheadTargetMs)}, within the noise. Readiness detected within {DetectionTargetMs:0} ms of the backend being");
        Line($"ready: {Verdict(detection, DetectionTargetMs)}.");
        Line($"");
        Line($"### Swap");
        Line($"");
        Line($"Two models (a and b, each its own copy of the tiny model). ullmd's planner evicts only when a model does not fit the");
        Line($"free memory it reads (GPU, or MemAvailable in CPU mode), and no config key caps that, so on this CPU host with");
        Line($"the tiny model a swap cannot be forced by capacity. Measured instead, with a loaded and idle: `UnloadModel a` (drain,");
        Line($"SIGTERM, wait for exit, as an eviction does), then a streamed chat for b → its first token. An eviction runs the same");
        Line($"two steps in sequence inside b's load.");
        Line($"");
        Line($"| step | p50 ms | min ms | max ms |");
        Line($"|---|---:|---:|---:|");
        Line($"| unload a | {Spread.Of(unloads).Cells} |");
        Line($"| chat for b sent → first token | {Spread.Of(swaps.Select(s => s.FirstTokenMs)).Cells} |");
        Line($"| swap: unload a + b's first token | {Spread.Of(unloads.Zip(swaps, (u, s) => u + s.FirstTokenMs)).Cells} |");
        Line($"| of which b's readiness detection | {Spread.Of(swaps.Select(s => s.DetectionMs)).Cells} |");
        Line($"");
        Line($"The unload is mostly llama-server's own exit. On SIGTERM it takes about 100 ms to exit while a client holds an idle");
        Line($"keep-alive connection to it, against a few ms with none; ullmd closes its connections to a backend once it is drained");
        Line($"and before it is stopped (until 2026-11-25 the gateway kept them open, and an unload took 110 ms at the median).");
        return text.ToString();
    }

    /// <summary>
    /// The build under test beside another (<c>--also</c>), a fourth path in the same rotation: each against the same
    /// direct runs, and the two paired run by run.
    /// </summary>
    public static string SideBySide(IReadOnlyList<DirectSample> direct, IReadOnlyList<UllmdSample> through, string ullmd, IReadOnlyList<UllmdSample> also, string alsoUllmd)
    {
        var text = new StringBuilder();
        void Line(FormattableString line) => text.AppendLine(line.ToString(CultureInfo.InvariantCulture));
        string Row(string step, Func<IReadOnlyList<UllmdSample>, string> cell) => $"| {step} | {cell(through)} | {cell(also)} |";
        var directSpawn = Spread.Of(direct.Select(d => d.SpawnToLogStartMs)).P50;
        var directForwarding = Spread.Of(direct.Select(d => d.ReadyToFirstTokenMs)).P50;
        double Own(IReadOnlyList<UllmdSample> samples) =>
            Spread.Of(samples.Select(u => u.RequestToLogStartMs)).P50 - directSpawn
            + Spread.Of(samples.Select(u => u.DetectionMs)).P50
            + Spread.Of(samples.Select(u => u.ReadyToFirstTokenMs)).P50 - directForwarding;

        Line($"");
        Line($"### Side by side with another build");
        Line($"");
        Line($"This build (`{ullmd}`) and another (`{alsoUllmd}`, `--also`), each a daemon of its own, loaded in turn with");
        Line($"the direct runs above: a fourth path in the same rotation, {through.Count} runs each (p50 (min–max), ms).");
        Line($"");
        Line($"| measure | this build | the --also build |");
        Line($"|---|---:|---:|");
        text.AppendLine(Row("chat sent → first token", s => Cell(s.Select(u => u.FirstTokenMs))));
        text.AppendLine(Row("**overhead** (− direct total, paired)", s => Cell(direct.Zip(s, (d, u) => u.FirstTokenMs - d.TotalMs))));
        text.AppendLine(Row("chat sent → llama-server's log clock starts", s => Cell(s.Select(u => u.RequestToLogStartMs))));
        text.AppendLine(Row("readiness detected after llama-server was ready", s => Cell(s.Select(u => u.DetectionMs))));
        text.AppendLine(Row("ready → first token", s => Cell(s.Select(u => u.ReadyToFirstTokenMs))));
        text.AppendLine(Row("ullmd's own steps at the median (as above)", s => string.Create(CultureInfo.InvariantCulture, $"{Own(s):0.0}")));
        Line($"");
        Line($"This build − the --also build, paired run by run (chat sent → first token): {Cell(through.Zip(also, (t, a) => t.FirstTokenMs - a.FirstTokenMs))} ms.");
        return text.ToString();
    }

    private static string Cell(IEnumerable<double> samples)
    {
        var spread = Spread.Of(samples);
        return string.Create(CultureInfo.InvariantCulture, $"{spread.P50:0.0} ({spread.Min:0.0}–{spread.Max:0.0})");
    }

    private static string Verdict(Spread spread, double targetMs)
    {
        if (spread.Max <= targetMs)
        {
            return FormattableString.Invariant($"met in every run (max {spread.Max:0.0} ms)");
        }

        return spread.P50 <= targetMs
            ? FormattableString.Invariant($"met at the median ({spread.P50:0.0} ms), not in every run (max {spread.Max:0.0} ms)")
            : FormattableString.Invariant($"not met (median {spread.P50:0.0} ms)");
    }

    private static string Machine()
    {
        var cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU";
        var memory = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown";
        return $"{cpu}, {Environment.ProcessorCount} cores, {memory} RAM, {Environment.OSVersion}, .NET {Environment.Version}";
    }
}

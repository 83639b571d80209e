using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace UnifiedLlm.Daemon.Hosting;

/// <summary>
/// Where ullmd's start went, phase by phase, in wall time and in CPU time (the machine may be shared, and CPU time is
/// what a change to the start saves): from exec to the command line's action (the runtime, the command line), then
/// each phase named by <see cref="Mark"/>, up to READY=1. Logged once, when READY=1 goes out.
/// </summary>
internal sealed class StartupTimeline
{
    private readonly List<(string Phase, TimeSpan Wall, TimeSpan Cpu)> phases = [];
    private TimeSpan lastWall;
    private TimeSpan lastCpu;
    private long markedAt = Stopwatch.GetTimestamp();

    private StartupTimeline(TimeSpan sinceExec, TimeSpan cpu)
    {
        phases.Add(("runtime and command line", sinceExec, cpu));
        (lastWall, lastCpu) = (sinceExec, cpu);
    }

    /// <summary>Starts the timeline at the command line's action; what came before is the process's age and CPU time.</summary>
    public static StartupTimeline Begin()
    {
        using var self = Process.GetCurrentProcess();
        return new StartupTimeline(DateTime.Now - self.StartTime, Environment.CpuUsage.TotalTime);
    }

    public TimeSpan Elapsed => lastWall;

    public TimeSpan CpuTime => lastCpu;

    public IReadOnlyList<(string Phase, TimeSpan Wall, TimeSpan Cpu)> Phases => phases;

    /// <summary>Ends the phase named <paramref name="phase"/> now.</summary>
    public void Mark(string phase)
    {
        var wall = lastWall + Stopwatch.GetElapsedTime(markedAt);
        var cpu = Environment.CpuUsage.TotalTime;
        phases.Add((phase, wall - lastWall, cpu - lastCpu));
        (lastWall, lastCpu, markedAt) = (wall, cpu, Stopwatch.GetTimestamp());
    }

    /// <summary>"config 41 ms (CPU 38), database 12 ms (CPU 10), …".</summary>
    public string Describe()
    {
        var text = new StringBuilder();
        foreach (var (phase, wall, cpu) in phases)
        {
            text.Append(text.Length == 0 ? "" : ", ").Append(CultureInfo.InvariantCulture, $"{phase} {wall.TotalMilliseconds:F0} ms (CPU {cpu.TotalMilliseconds:F0})");
        }

        return text.ToString();
    }
}

namespace UnifiedLlm.Daemon.Models.Download;

/// <summary>
/// One download in flight, shared by every request for the same model: its completion and its progress, updated by the
/// download and read by whoever shows it. The rate is measured over the last few seconds.
/// </summary>
internal sealed class ActiveDownload(string model, int parts, TimeProvider time)
{
    private static readonly TimeSpan RateWindow = TimeSpan.FromSeconds(5);

    private readonly Lock gate = new();
    private readonly Queue<(long Ticks, long Bytes)> samples = new();
    private string file = "";
    private int part;
    private long finishedBytes;
    private long partBytes;
    private long? partTotal;

    public string Model => model;

    /// <summary>Set once the download has begun; completes when every part is in place, or fails with <see cref="ModelDownloadException"/>.</summary>
    public Task Completion { get; set; } = Task.CompletedTask;

    public void BeginPart(int index, string name, long alreadyThere, long? total)
    {
        lock (gate)
        {
            (part, file, partBytes, partTotal) = (index, name, alreadyThere, total);
            samples.Clear();
            samples.Enqueue((time.GetTimestamp(), finishedBytes + partBytes));
        }
    }

    public void Wrote(int bytes)
    {
        lock (gate)
        {
            partBytes += bytes;
            var now = time.GetTimestamp();
            samples.Enqueue((now, finishedBytes + partBytes));
            while (samples.Count > 2 && time.GetElapsedTime(samples.Peek().Ticks, now) > RateWindow)
            {
                samples.Dequeue();
            }
        }
    }

    /// <summary>A part that was already complete, or has just been completed.</summary>
    public void FinishedPart(long bytes)
    {
        lock (gate)
        {
            finishedBytes += bytes;
            (partBytes, partTotal) = (0, 0);
        }
    }

    public DownloadProgress Snapshot()
    {
        lock (gate)
        {
            var rate = 0.0;
            if (samples.Count > 1)
            {
                var (firstTicks, firstBytes) = samples.Peek();
                var seconds = time.GetElapsedTime(firstTicks, time.GetTimestamp()).TotalSeconds;
                rate = seconds > 0 ? (finishedBytes + partBytes - firstBytes) / seconds : 0;
            }

            TimeSpan? eta = partTotal is { } total && rate > 0 ? TimeSpan.FromSeconds(Math.Max(0, total - partBytes) / rate) : null;
            long? overall = partTotal is { } known ? finishedBytes + known : null;
            return new DownloadProgress(model, file, Math.Max(part, 1), parts, finishedBytes + partBytes, overall, rate, eta);
        }
    }
}

using System.CommandLine;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Spectre.Console;
using UnifiedLlm.Admin.V1;
using UnifiedLlm.Printing;
using AdminClient = UnifiedLlm.Admin.V1.Admin.AdminClient;

namespace UnifiedLlm.Ctl.Commands;

/// <summary>
/// A full-screen live view (alternate screen) of GPUs, loaded models, requests/s, TTFT and the queue, refreshed every
/// --interval seconds; q (or Ctrl-C) quits. A refresh that fails is shown in the footer and retried on the next tick.
/// </summary>
internal static class TopCommand
{
    /// <summary>Requests/s and TTFT are taken over the audit records of this window.</summary>
    private static readonly TimeSpan RateWindow = TimeSpan.FromSeconds(60);

    public static Command Create()
    {
        var interval = new Option<double>("--interval") { Description = "Seconds between refreshes (default 2)", DefaultValueFactory = _ => 2 };
        interval.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<double>() is < 0.2 or > 3600)
            {
                r.AddError("--interval: must be between 0.2 and 3600 seconds");
            }
        });
        var count = new Option<uint>("--count") { Description = "With --json: stop after this many snapshots (default 0: until Ctrl-C)" };
        var command = new Command("top", "Live full-screen view of GPUs, loaded models, requests/s, TTFT and queue (q quits)") { interval, count };
        return command.WithAction(async (parse, client, json, ct) =>
        {
            var period = TimeSpan.FromSeconds(parse.GetValue(interval));
            if (json)
            {
                return await StreamJsonAsync(client, period, parse.GetValue(count), ct);
            }

            var view = await TopView.ReadAsync(client, RateWindow, ct);
            var console = AnsiConsole.Console;
            console.Write(new ControlCode("\u001b[?1049h\u001b[H"));
            console.Cursor.Hide();
            try
            {
                await console.Live(view.Render(1, null)).AutoClear(false).Overflow(VerticalOverflow.Crop).StartAsync(async live =>
                {
                    var refreshes = 1;
                    string? error = null;
                    while (await WaitForTickOrQuitAsync(period, ct))
                    {
                        try
                        {
                            view = await TopView.ReadAsync(client, RateWindow, ct);
                            refreshes++;
                            error = null;
                        }
                        catch (RpcException e) when (!ct.IsCancellationRequested)
                        {
                            error = $"{e.StatusCode}: {e.Status.Detail}";
                        }

                        live.UpdateTarget(view.Render(refreshes, error));
                    }
                });
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
            }
            finally
            {
                console.Cursor.Show();
                console.Write(new ControlCode("\u001b[?1049l"));
            }

            return CtlErrors.Ok;
        });
    }

    /// <summary>
    /// <c>top --json</c>: one JSON object per line and refresh: <c>time</c>, <c>requestsPerSecond</c> and
    /// <c>meanTtftMs</c> over <c>windowSeconds</c>, and the <c>status</c> and <c>gpus</c> answers as the admin API's JSON.
    /// A failed refresh ends it with the error (as every command's error) rather than a gap in the stream.
    /// </summary>
    private static async Task<int> StreamJsonAsync(AdminClient client, TimeSpan period, uint count, CancellationToken cancellationToken)
    {
        var formatter = new JsonFormatter(JsonFormatter.Settings.Default.WithFormatDefaultValues(true));
        try
        {
            for (var n = 1U; ; n++)
            {
                var view = await TopView.ReadAsync(client, RateWindow, cancellationToken);
                using var buffer = new MemoryStream();
                using (var writer = new Utf8JsonWriter(buffer))
                {
                    writer.WriteStartObject();
                    writer.WriteString("time", DateTimeOffset.UtcNow);
                    writer.WriteNumber("windowSeconds", view.Window.TotalSeconds);
                    writer.WriteNumber("requestsPerSecond", view.RequestsPerSecond);
                    if (view.MeanTtftMs is { } ttft)
                    {
                        writer.WriteNumber("meanTtftMs", Math.Round(ttft, 1));
                    }
                    else
                    {
                        writer.WriteNull("meanTtftMs");
                    }

                    writer.WritePropertyName("status");
                    writer.WriteRawValue(formatter.Format(view.Status));
                    writer.WritePropertyName("gpus");
                    writer.WriteRawValue(formatter.Format(view.Gpus));
                    writer.WriteEndObject();
                }

                await Console.Out.WriteLineAsync(Encoding.UTF8.GetString(buffer.ToArray()));
                await Console.Out.FlushAsync(cancellationToken);
                if (count != 0 && n >= count)
                {
                    return CtlErrors.Ok;
                }

                await Task.Delay(period, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return CtlErrors.Ok;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
        {
            return CtlErrors.Ok;
        }
    }

    /// <summary>True when the next refresh is due, false when q was pressed; Ctrl-C cancels.</summary>
    private static async Task<bool> WaitForTickOrQuitAsync(TimeSpan period, CancellationToken cancellationToken)
    {
        var due = DateTime.UtcNow + period;
        while (DateTime.UtcNow < due)
        {
            while (!Console.IsInputRedirected && Console.KeyAvailable)
            {
                if (Console.ReadKey(intercept: true).KeyChar is 'q' or 'Q')
                {
                    return false;
                }
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50), cancellationToken);
        }

        return true;
    }

    /// <summary>A 20-cell memory bar with the percentage, red above 90%.</summary>
    private static string Bar(double fraction)
    {
        const int Cells = 20;
        var full = (int)Math.Round(Math.Clamp(fraction, 0, 1) * Cells);
        var color = fraction > 0.9 ? "red" : "green";
        return $"[{color}]{new string('█', full)}[/][dim]{new string('░', Cells - full)}[/] {fraction * 100:0}%";
    }

    /// <summary>One reading of everything the view shows.</summary>
    private sealed record TopView(StatusResponse Status, ListGpusResponse Gpus, IReadOnlyList<AuditRecord> Recent, TimeSpan Window)
    {
        public static async Task<TopView> ReadAsync(AdminClient client, TimeSpan window, CancellationToken cancellationToken)
        {
            var status = await client.StatusAsync(new StatusRequest(), cancellationToken: cancellationToken);
            var gpus = await client.ListGpusAsync(new ListGpusRequest(), cancellationToken: cancellationToken);
            var since = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow - window);
            var audit = await client.QueryAuditAsync(new QueryAuditRequest { Since = since, Limit = 10000 }, cancellationToken: cancellationToken);
            return new TopView(status, gpus, audit.Records, window);
        }

        public double RequestsPerSecond => Recent.Count / Window.TotalSeconds;

        public double? MeanTtftMs => Recent.Where(r => r.TtftMs > 0).Select(r => (double)r.TtftMs).DefaultIfEmpty(double.NaN).Average() is var mean && !double.IsNaN(mean) ? mean : null;

        public Rows Render(int refreshes, string? error)
        {
            var s = Status;
            var rate = RequestsPerSecond;
            var ttft = MeanTtftMs is { } mean ? $"{mean:0} ms avg" : "-";
            var header = new Markup(
                $"[bold]ullmd {Markup.Escape(s.Version)}[/]  up {Markup.Escape(Output.Printer.Duration(s.UptimeMs))}  "
                + $"requests/s [bold]{rate:0.00}[/] (last {Window.TotalSeconds:0}s)  TTFT [bold]{Markup.Escape(ttft)}[/]  "
                + $"queue [bold]{s.QueuedRequests}[/]  in flight [bold]{s.InFlightRequests}[/]  models {s.LoadedModels}/{s.ConfiguredModels} loaded");

            var gpuTable = new Spectre.Console.Table().Expand().Title("GPUs")
                .AddColumns("GPU", "NAME", "MEMORY", "USED", "FREE", "UTIL", "TEMP", "PROCESSES");
            if (Gpus.CpuModeReason.Length > 0)
            {
                gpuTable.AddRow("-", Markup.Escape(TerminalText.Escape($"CPU mode: {Gpus.CpuModeReason}")), "", "", "", "", "", "");
            }

            foreach (var g in Gpus.Gpus)
            {
                var fraction = g.TotalBytes == 0 ? 0 : (double)g.UsedBytes / g.TotalBytes;
                gpuTable.AddRow(
                    new Text($"{g.Index}"),
                    new Text(TerminalText.Escape(g.Name)),
                    new Markup(Bar(fraction)),
                    new Text(Output.Printer.Bytes(g.UsedBytes)),
                    new Text(Output.Printer.Bytes(g.FreeBytes)),
                    new Text(g.HasUtilizationPercent ? $"{g.UtilizationPercent}%" : "n/a"),
                    new Text(g.HasTemperatureCelsius ? $"{g.TemperatureCelsius}°C" : "n/a"),
                    new Text($"{g.Processes.Count(p => p.Unit.Length > 0)} ours, {g.Processes.Count(p => p.Unit.Length == 0)} foreign"));
            }

            var models = new Spectre.Console.Table().Expand().Title("Loaded models")
                .AddColumns("MODEL", "STATE", "UNIT", "GPUS", "CTX", "IN FLIGHT", "QUEUED", "MEMORY");
            foreach (var i in s.Instances)
            {
                models.AddRow(
                    Markup.Escape(TerminalText.Escape(i.Model)),
                    ModelsCommand.StateName(i.State),
                    Markup.Escape(TerminalText.Escape(i.Unit)),
                    string.Join(',', i.Gpus),
                    $"{i.Context}",
                    $"{i.InFlight}",
                    $"{i.Queued}",
                    Output.Printer.Bytes(i.MemoryCurrentBytes));
            }

            if (s.Instances.Count == 0)
            {
                models.AddRow("[dim]none[/]", "", "", "", "", "", "", "");
            }

            var footer = new Markup(
                $"[dim]q quits · refresh {refreshes} at {DateTime.Now:HH:mm:ss}[/]"
                + (error is null ? "" : $"  [red]refresh failed: {Markup.Escape(TerminalText.Escape(error))}[/]"));
            return new Rows(header, gpuTable, models, footer);
        }
    }
}

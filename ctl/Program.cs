using System.CommandLine;
using System.CommandLine.Invocation;
using UnifiedLlm.Ctl;
using UnifiedLlm.Ctl.Commands;
using UnifiedLlm.Ctl.Mcp;

var root = new RootCommand("ullmctl — administer ullmd over its admin socket")
{
    CtlContext.Socket,
    CtlContext.Json,
    StatusCommand.Create(),
    ModelsCommand.CreateList(),
    ModelsCommand.CreateShow(),
    ProvidersCommand.Create(),
    KeysCommand.Create(),
    AuditCommand.Create(),
    CacheCommand.Create(),
    EventsCommand.Create(),
    ReloadCommand.Create(),
    GpusCommand.Create(),
    PlanCommand.Create(),
    ScanCommand.Create(),
    LogsCommand.Create(),
    LifecycleCommands.CreateLoad(),
    LifecycleCommands.CreateUnload(),
    LifecycleCommands.CreateSwitch(),
    PullCommand.Create(),
    CompletionCommand.Create(),
    TopCommand.Create(),
    DoctorCommand.Create(),
    McpCommand.Create(),
};
var parse = root.Parse(args);
if (parse.Action is ParseErrorAction)
{
    // Usage errors exit 2 (CtlErrors.Usage) with one line each on stderr, rather than help text on stdout and exit 1;
    // with --json also as one error object on stdout.
    var errors = string.Join("; ", parse.Errors.Select(e => e.Message));
    return CtlErrors.Fail(args.Contains("--json"), CtlErrors.Usage, Grpc.Core.StatusCode.InvalidArgument, $"{errors} (add --help to the command for its usage)");
}

// Ctrl-C cancels the running command, which may then need a moment to undo a load in the daemon.
return await parse.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = LoadProgressDisplay.CancelTimeout + TimeSpan.FromSeconds(5) });

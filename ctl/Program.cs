using System.CommandLine;
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
    EventsCommand.Create(),
    ReloadCommand.Create(),
    GpusCommand.Create(),
    PlanCommand.Create(),
    ScanCommand.Create(),
    LogsCommand.Create(),
    LifecycleCommands.CreateLoad(),
    LifecycleCommands.CreateUnload(),
    LifecycleCommands.CreateSwitch(),
    CompletionCommand.Create(),
    TopCommand.Create(),
    McpCommand.Create(),
};
return await root.Parse(args).InvokeAsync();

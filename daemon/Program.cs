using UnifiedLlm.Daemon.Hosting;

return await DaemonCommandLine.Build().Parse(args).InvokeAsync();

using System.CommandLine;
using UnifiedLlm.Daemon.Hosting;

// The generic host owns SIGTERM/SIGINT (graceful drain, STOPPING=1); System.CommandLine must not race it with its own exit.
return await DaemonCommandLine.Build().Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });

using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orch.AgentHost;

var builder = Host.CreateApplicationBuilder(args);
builder.Configuration.AddEnvironmentVariables("ORCH_");

// Check settings before the host starts, so a mistake is one clear line, not a host stack trace.
var settings = builder.Configuration.GetSection(AgentHostOptions.Section).Get<AgentHostOptions>() ?? new AgentHostOptions();
var problems = settings.Validate();
if (problems.Count > 0)
{
    foreach (var problem in problems) Console.Error.WriteLine($"orch-agent: {problem}");
    return 2;
}

builder.Services.AddOptions<AgentHostOptions>().Bind(builder.Configuration.GetSection(AgentHostOptions.Section));
builder.Services.AddHostedService<AgentService>();
// The host must outlast the grace period, plus the time to stop and hand back what still runs.
builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = settings.ShutdownGrace + TimeSpan.FromSeconds(15));
await builder.Build().RunAsync();
return Environment.ExitCode;

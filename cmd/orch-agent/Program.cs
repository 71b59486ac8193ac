using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orch.AgentHost;

if (args.Any(a => a is "--help" or "-h" or "-?"))
{
    Console.Out.Write(AgentHostOptions.Usage);
    return 0;
}
if (args is ["--version"])
{
    Console.Out.WriteLine(typeof(AgentHostOptions).Assembly.GetName().Version?.ToString(3) ?? "0.0.0");
    return 0;
}

var builder = Host.CreateApplicationBuilder(args);
builder.Configuration.AddEnvironmentVariables("ORCH_");

// Check settings before the host starts, so a mistake is one clear line, not a host stack trace.
var section = builder.Configuration.GetSection(AgentHostOptions.Section);
var settings = section.Get<AgentHostOptions>() ?? new AgentHostOptions();
var problems = AgentHostOptions.UnknownSettings(args, section).Concat(settings.Validate()).ToList();
if (problems.Count > 0)
{
    foreach (var problem in problems) Console.Error.WriteLine($"orch-agent: {problem}");
    return 2;
}

builder.Services.AddOptions<AgentHostOptions>().Bind(section);
builder.Services.AddHostedService<AgentService>();
// The host must outlast the grace period, plus the time to stop and hand back what still runs.
builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = settings.ShutdownGrace + TimeSpan.FromSeconds(15));
await builder.Build().RunAsync();
return Environment.ExitCode;

<#
.SYNOPSIS
  Installs the Tillbridge store agent on a Windows till or back-office PC, silently: copies the
  bundle, enrolls the store with the hub, and registers and starts the Windows service (WinSW).

.DESCRIPTION
  For mass deployment (Intune Win32 app, SCCM/ConfigMgr, a GPO startup script): no prompt, a log
  at %ProgramData%\Tillbridge\logs\install.log, and an exit code for each failure (below).
  Run as an administrator (Intune/SCCM run as SYSTEM). Running it again is safe: the bundle is
  copied again, enrollment is skipped when the config already exists (unless -Reenroll), and the
  service is registered again with the new files.

  What it does:
    1. checks it runs elevated, and that Node.js 20 or later is installed (node.exe on PATH or -NodePath);
    2. copies the bundle (-Source, default: this script's folder) to -InstallDir;
    3. creates %ProgramData%\Tillbridge (agent.json, data\, logs\), readable only by SYSTEM,
       Administrators and the service account;
    4. runs: tillbridge-agent enroll --hub <HubUrl> --code <EnrollmentCode>, which writes agent.json;
       then checks the config is for -Store;
    5. runs: tillbridge-agent service install --winsw <InstallDir>\service\tillbridge-agent.exe, then
       tillbridge-agent service start (WinSW's exe is the bundle's service\winsw.exe, copied to that name)

  Not run on Windows by the project's tests (docs/install-windows.md says what was checked).

.PARAMETER HubUrl
  The hub's address, e.g. https://hub.example.com:7400
.PARAMETER Store
  The store this PC belongs to (e.g. S042): the enrolled config must name it.
.PARAMETER EnrollmentCode
  The store's one-time enrollment code, from the hub's operator: needed unless the config
  already exists.
.PARAMETER InstallDir
  Where the program goes. Default: %ProgramFiles%\Tillbridge
.PARAMETER Source
  The unpacked Windows bundle: tillbridge-agent.mjs (or agent\bin\tillbridge-agent.js) and
  service\winsw.exe.
  Default: the folder this script is in.
.PARAMETER NodePath
  node.exe, when it is not on PATH.
.PARAMETER Account
  localservice (default: NT AUTHORITY\LocalService) or virtual (NT SERVICE\tillbridge-agent).
.PARAMETER Reenroll
  Enroll again even though agent.json exists (a new code; the old config is kept as agent.json.bak).
.PARAMETER Quiet
  Print nothing (the log file is still written).

.EXAMPLE
  powershell.exe -NoProfile -ExecutionPolicy Bypass -File Install-Tillbridge.ps1 -HubUrl https://hub.example.com:7400 -Store S042 -EnrollmentCode 7K2M-QX9P -Quiet

.NOTES
  Exit codes:
    0   installed and started
    1   unexpected error (see the log)
    10  not elevated: run as an administrator or SYSTEM
    11  Node.js missing or older than 20
    12  the bundle is incomplete (-Source does not hold the agent and WinSW)
    13  enrollment failed (or no -EnrollmentCode and no existing config)
    14  the enrolled config is for another store than -Store
    15  the service could not be installed or started
#>
[CmdletBinding()]
param(
  [Parameter(Mandatory = $true)][string]$HubUrl,
  [Parameter(Mandatory = $true)][string]$Store,
  [string]$EnrollmentCode,
  [string]$InstallDir = (Join-Path $env:ProgramFiles 'Tillbridge'),
  [string]$Source = $PSScriptRoot,
  [string]$NodePath,
  [ValidateSet('localservice', 'virtual')][string]$Account = 'localservice',
  [switch]$Reenroll,
  [switch]$Quiet
)

$ErrorActionPreference = 'Stop'
$ServiceId = 'tillbridge-agent'
$Home_ = Join-Path $env:ProgramData 'Tillbridge'
$LogDir = Join-Path $Home_ 'logs'
$ConfigFile = Join-Path $Home_ 'agent.json'
$LogFile = Join-Path $LogDir 'install.log'

New-Item -ItemType Directory -Force -Path $LogDir | Out-Null

function Say([string]$Text) {
  Add-Content -Path $LogFile -Value ("{0:s} {1}" -f (Get-Date), $Text)
  if (-not $Quiet) { Write-Host $Text }
}

function Fail([int]$Code, [string]$Text) {
  Say "error: $Text (exit $Code)"
  exit $Code
}

try {
  # 1. elevated, Node.js >= 20
  $principal = New-Object Security.Principal.WindowsPrincipal([Security.Principal.WindowsIdentity]::GetCurrent())
  if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
    Fail 10 'run this script as an administrator (or as SYSTEM)'
  }
  if (-not $NodePath) {
    $cmd = Get-Command node.exe -ErrorAction SilentlyContinue
    if (-not $cmd) { Fail 11 'Node.js is not installed (node.exe is not on PATH): install Node.js 20 LTS or later, or pass -NodePath' }
    $NodePath = $cmd.Source
  }
  $nodeVersion = (& $NodePath -p 'process.versions.node').Trim()
  if ([int]($nodeVersion.Split('.')[0]) -lt 20) { Fail 11 "Node.js $nodeVersion at $NodePath is too old: 20 or later is needed" }
  Say "Node.js $nodeVersion at $NodePath"

  # 2. the bundle
  # the CLI: the release bundle's tillbridge-agent.mjs at its root, or a source tree's agent\bin\tillbridge-agent.js
  $cliRelative = @('tillbridge-agent.mjs', 'agent\bin\tillbridge-agent.js') | Where-Object { Test-Path (Join-Path $Source $_) } | Select-Object -First 1
  $winswInSource = Join-Path $Source 'service\winsw.exe'
  if (-not $cliRelative -or -not (Test-Path $winswInSource)) {
    Fail 12 "the bundle at $Source is incomplete: it needs tillbridge-agent.mjs (or agent\bin\tillbridge-agent.js) and service\winsw.exe"
  }
  # a running service holds the files: stop it before copying over them
  $existing = Get-Service -Name $ServiceId -ErrorAction SilentlyContinue
  if ($existing -and $existing.Status -ne 'Stopped') { Stop-Service -Name $ServiceId -Force; Say "stopped the running $ServiceId service" }
  New-Item -ItemType Directory -Force -Path $InstallDir | Out-Null
  Copy-Item -Path (Join-Path $Source '*') -Destination $InstallDir -Recurse -Force
  $Cli = Join-Path $InstallDir $cliRelative
  $Winsw = Join-Path $InstallDir "service\$ServiceId.exe"
  Copy-Item -Path (Join-Path $InstallDir 'service\winsw.exe') -Destination $Winsw -Force
  # WinSW 1.x (the one node-windows ships) needs its .exe.config, named like the exe, to run on .NET 4
  $winswConfig = Join-Path $InstallDir 'service\winsw.exe.config'
  if (Test-Path $winswConfig) { Copy-Item -Path $winswConfig -Destination "$Winsw.config" -Force }
  Say "copied the bundle to $InstallDir"

  # 3. %ProgramData%\Tillbridge: the config holds the store's API key; only SYSTEM, Administrators and the service read it
  foreach ($d in @($Home_, (Join-Path $Home_ 'data'), $LogDir)) { New-Item -ItemType Directory -Force -Path $d | Out-Null }
  $serviceAccount = if ($Account -eq 'virtual') { "NT SERVICE\$ServiceId" } else { 'NT AUTHORITY\LOCAL SERVICE' }
  & icacls.exe $Home_ /inheritance:r /grant:r 'SYSTEM:(OI)(CI)F' 'BUILTIN\Administrators:(OI)(CI)F' | Out-Null
  if ($Account -ne 'virtual') {
    # the virtual account exists only once the service is registered: granted after step 5
    & icacls.exe $Home_ /grant:r "${serviceAccount}:(OI)(CI)M" | Out-Null
  }
  Say "prepared $Home_"

  # 4. enroll (writes agent.json), then check it is this store's
  $env:TILLBRIDGE_CONFIG = $ConfigFile
  if ((Test-Path $ConfigFile) -and -not $Reenroll) {
    Say "kept the existing $ConfigFile (pass -Reenroll to enroll again)"
  } else {
    if (-not $EnrollmentCode) { Fail 13 "no -EnrollmentCode, and no config at $ConfigFile" }
    if (Test-Path $ConfigFile) { Copy-Item $ConfigFile "$ConfigFile.bak" -Force }
    $out = & $NodePath $Cli enroll --hub $HubUrl --code $EnrollmentCode 2>&1
    if ($LASTEXITCODE -ne 0) { Fail 13 "enrollment with $HubUrl failed: $out" }
    Say "enrolled with $HubUrl"
  }
  $config = Get-Content -Raw -Path $ConfigFile | ConvertFrom-Json
  if ($config.store -ne $Store) { Fail 14 "$ConfigFile is for store '$($config.store)', not '$Store'" }

  # 5. the service: WinSW's XML written next to its exe, registered, started
  $out = & $NodePath $Cli service install --winsw $Winsw --account $Account --config $ConfigFile 2>&1
  if ($LASTEXITCODE -ne 0) { Fail 15 "the service could not be installed: $out" }
  if ($Account -eq 'virtual') { & icacls.exe $Home_ /grant:r "${serviceAccount}:(OI)(CI)M" | Out-Null }
  $out = & $NodePath $Cli service start --winsw $Winsw 2>&1
  if ($LASTEXITCODE -ne 0) { Fail 15 "the service could not be started: $out" }
  Say "service $ServiceId installed and started ($serviceAccount)"
  exit 0
} catch {
  Say "error: $($_.Exception.Message) (exit 1)"
  exit 1
}

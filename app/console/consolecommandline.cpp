#include "consolecommandline.h"

#include <QCommandLineParser>
#include <QCoreApplication>

#include <algorithm>
#include <iterator>

namespace {

ConsoleCommandLine fail(const QString &message)
{
    ConsoleCommandLine result;
    result.mode = ConsoleCommandLine::Mode::Error;
    result.text = message;
    return result;
}

// QGuiApplication's and QApplication's own options, which QApplication takes out
// of argv when it is constructed: those that take a value, and flags.
const char *const kQtValueOptions[] = {"platform", "platformpluginpath", "platformtheme", "plugin",
                                       "qwindowgeometry", "qwindowicon", "qwindowtitle", "session",
                                       "display", "geometry", "name", "title", "style", "stylesheet",
                                       "dialogs", "fontengine", "qmljsdebugger"};
const char *const kQtFlagOptions[] = {"reverse", "widgetcount", "nograb", "dograb", "sync"};

template<size_t N>
bool listed(const char *const (&names)[N], const QString &name)
{
    return std::any_of(std::begin(names), std::end(names), [&name](const char *n) { return name == QLatin1String(n); });
}

// The option's name when `arg` is one of Qt's options ("-platform", "--style=x"), with
// whether its value is in the same argument; empty otherwise.
QString qtOptionName(const QString &arg, bool *valueAttached)
{
    if (!arg.startsWith(u'-') || arg == QLatin1String("--"))
        return {};
    QString name = arg.mid(arg.startsWith(QLatin1String("--")) ? 2 : 1);
    const qsizetype eq = name.indexOf(u'=');
    *valueAttached = eq >= 0;
    if (eq >= 0)
        name.truncate(eq);
    if (listed(kQtValueOptions, name) || (!*valueAttached && listed(kQtFlagOptions, name)))
        return name;
    return {};
}

// The arguments without Qt's own options and their values.
QStringList withoutQtOptions(const QStringList &arguments)
{
    QStringList result;
    for (qsizetype i = 0; i < arguments.size(); ++i) {
        const QString &arg = arguments.at(i);
        bool attached = false;
        const QString name = i == 0 ? QString() : qtOptionName(arg, &attached);
        if (name.isEmpty()) {
            result << arg;
            continue;
        }
        if (!attached && listed(kQtValueOptions, name))
            ++i; // its value
    }
    return result;
}

// An integer option's value within [low, high]; an error sentence otherwise.
bool intValue(const QCommandLineParser &parser, const QCommandLineOption &option, int low, int high,
              const QString &unit, int *value, QString *error)
{
    bool ok = false;
    const QString text = parser.value(option);
    const int v = text.toInt(&ok);
    if (!ok || v < low || v > high) {
        *error = QStringLiteral("--%1 takes %2 from %3 to %4, not '%5'")
                     .arg(option.names().constFirst(), unit)
                     .arg(low)
                     .arg(high)
                     .arg(text);
        return false;
    }
    *value = v;
    return true;
}

} // namespace

ConsoleCommandLine ConsoleCommandLine::parse(const QStringList &arguments)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Watch and operate order sagas live.\n\n"
                       "Without options: the embedded engine with a SQLite database in your data "
                       "folder. File > Connect offers the source you used last."));
    const QCommandLineOption help({QStringLiteral("h"), QStringLiteral("help")}, QStringLiteral("Show this help."));
    const QCommandLineOption version({QStringLiteral("v"), QStringLiteral("version")},
                                     QStringLiteral("Show the version."));
    const QCommandLineOption demo(QStringLiteral("demo"), QStringLiteral("Start demo traffic at once (a steady mix of orders, including failures)."));
    const QCommandLineOption demoRate(QStringLiteral("demo-rate"), QStringLiteral("Demo traffic in orders per minute, for this run (default: as last set in the New Order dialog, initially 30)."), QStringLiteral("N"));
    const QCommandLineOption demoFailures(QStringLiteral("demo-failures"), QStringLiteral("Share of demo orders that fail in percent, for this run (default: as last set in the New Order dialog, initially 30)."), QStringLiteral("PERCENT"));
    const QCommandLineOption server(QStringLiteral("server"), QStringLiteral("Remote mode: the saga-server to watch, e.g. http://127.0.0.1:8080."), QStringLiteral("URL"));
    const QCommandLineOption token(QStringLiteral("token"), QStringLiteral("Remote mode: a SUPPORT token (default: $SAGA_CONSOLE_TOKEN)."), QStringLiteral("T"));
    const QCommandLineOption postgres(QStringLiteral("postgres"), QStringLiteral("Database mode: read a database directly, postgresql://USER@HOST:PORT/DB[?PARAMS] (LISTEN/NOTIFY) or sqlite:PATH (polled). PARAMS: libpq connection parameters, e.g. sslmode=verify-full&sslrootcert=FILE (README, Database URLs)."), QStringLiteral("URL"));
    const QCommandLineOption database(QStringLiteral("database"), QStringLiteral("Embedded mode: the embedded engine's database, sqlite:PATH (default: in your data folder) or postgresql://USER@HOST:PORT/DB[?PARAMS]."), QStringLiteral("URL"));
    const QCommandLineOption stepDelay(QStringLiteral("step-delay"), QStringLiteral("Embedded mode: simulated latency of each step in ms (default 900)."), QStringLiteral("MS"));
    QCommandLineOption screenshot(QStringLiteral("screenshot"), QStringLiteral("Save a picture of the window to FILE, then quit."), QStringLiteral("FILE"));
    screenshot.setFlags(QCommandLineOption::HiddenFromHelp);
    QCommandLineOption screenshotAfter(QStringLiteral("screenshot-after"), QStringLiteral("Wait MS before the screenshot."), QStringLiteral("MS"), QStringLiteral("5000"));
    screenshotAfter.setFlags(QCommandLineOption::HiddenFromHelp);
    QCommandLineOption screenshotSelect(QStringLiteral("screenshot-select"), QStringLiteral("Before the screenshot, select and expand the latest order with this overall status."), QStringLiteral("STATUS"));
    screenshotSelect.setFlags(QCommandLineOption::HiddenFromHelp);
    parser.addOptions({help, version, demo, demoRate, demoFailures, server, token, postgres, database, stepDelay,
                       screenshot, screenshotAfter, screenshotSelect});

    const bool parsed = parser.parse(withoutQtOptions(arguments));
    ConsoleCommandLine result;
    // --help and --version answer even next to a mistake, as QCommandLineParser::process does.
    if (parser.isSet(help)) {
        result.mode = Mode::Help;
        result.text = QStringLiteral("Usage: saga-console [options]\n") + parser.helpText().section(u'\n', 1);
        return result;
    }
    if (parser.isSet(version)) {
        result.mode = Mode::Version;
        result.text = QStringLiteral("saga-console %1\n").arg(QCoreApplication::applicationVersion());
        return result;
    }
    if (!parsed)
        return fail(parser.errorText() + QStringLiteral(" (see --help)"));
    if (!parser.positionalArguments().isEmpty())
        return fail(QStringLiteral("unexpected argument '%1' (see --help)").arg(parser.positionalArguments().constFirst()));
    if (parser.isSet(server) && parser.isSet(postgres))
        return fail(QStringLiteral("choose one of --server and --postgres."));
    if (parser.isSet(token) && !parser.isSet(server))
        return fail(QStringLiteral("--token goes with --server URL."));

    SourceSpec &spec = result.spec;
    if (parser.isSet(server)) {
        spec.kind = SourceSpec::Kind::Remote;
        spec.serverUrl = SourceSpec::serverUrlFromText(parser.value(server));
        spec.token = parser.isSet(token) ? parser.value(token) : qEnvironmentVariable("SAGA_CONSOLE_TOKEN");
        // (The connection dialog's sentence asks to enter one: here, say where it goes.)
        if (spec.token.trimmed().isEmpty())
            return fail(QStringLiteral("--server needs a SUPPORT token: --token T, or $SAGA_CONSOLE_TOKEN "
                                       "(saga-server token --subject UUID --role SUPPORT --auth-secret-file FILE "
                                       "prints one)."));
    } else if (parser.isSet(postgres)) {
        spec.kind = SourceSpec::Kind::Database;
        spec.databaseUrl = parser.value(postgres);
        QString error;
        if (!DatabaseUrl::parse(spec.databaseUrl, &error))
            return fail(QStringLiteral("--postgres: %1").arg(error)); // (the sentence names the forms that work)
    } else {
        // No source given: the embedded default (ARCHITECTURE.md, CLI). The last
        // source is remembered for the connection dialog, not switched to silently.
        spec.kind = SourceSpec::Kind::Embedded;
    }
    if (parser.isSet(database)) {
        QString error;
        const std::optional<DatabaseUrl> url = DatabaseUrl::parse(parser.value(database), &error);
        if (!url)
            return fail(QStringLiteral("--database: %1").arg(error));
        spec.embeddedDatabase = *url;
    }
    QString error;
    int value = 0;
    if (parser.isSet(stepDelay)) {
        if (!intValue(parser, stepDelay, 0, 60000, QStringLiteral("milliseconds"), &value, &error))
            return fail(error);
        spec.stepDelayMs = value;
    }
    const QString problem = spec.validate();
    if (!problem.isEmpty())
        return fail(problem);

    result.demo = parser.isSet(demo);
    if (parser.isSet(demoRate)) {
        if (!intValue(parser, demoRate, 1, 6000, QStringLiteral("orders per minute"), &value, &error))
            return fail(error);
        result.demoOrdersPerMinute = value;
    }
    if (parser.isSet(demoFailures)) {
        if (!intValue(parser, demoFailures, 0, 100, QStringLiteral("a percentage"), &value, &error))
            return fail(error);
        result.demoFailurePercent = value;
    }
    for (const QCommandLineOption *o : {&screenshotAfter, &screenshotSelect}) {
        if (parser.isSet(*o) && !parser.isSet(screenshot))
            return fail(QStringLiteral("--%1 goes with --screenshot FILE.").arg(o->names().constFirst()));
    }
    if (parser.isSet(screenshot)) {
        result.screenshotFile = parser.value(screenshot);
        if (!intValue(parser, screenshotAfter, 0, 3600000, QStringLiteral("milliseconds"), &result.screenshotAfterMs,
                      &error))
            return fail(error);
        if (parser.isSet(screenshotSelect)) {
            result.screenshotSelect = overallStatusFromString(parser.value(screenshotSelect).toUpper());
            if (!result.screenshotSelect)
                return fail(QStringLiteral("--screenshot-select: '%1' is not an order status")
                                .arg(parser.value(screenshotSelect)));
        }
    }
    result.mode = Mode::Run;
    return result;
}

QString ConsoleCommandLine::displayProblem(const QStringList &arguments, const QProcessEnvironment &environment)
{
#if defined(Q_OS_UNIX) && !defined(Q_OS_DARWIN) && !defined(Q_OS_ANDROID)
    for (qsizetype i = 1; i < arguments.size(); ++i) {
        bool attached = false;
        if (qtOptionName(arguments.at(i), &attached) == QLatin1String("platform"))
            return {};
    }
    for (const char *variable : {"QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"}) {
        if (!environment.value(QLatin1String(variable)).isEmpty())
            return {};
    }
    return QStringLiteral("no display to open the window on: neither DISPLAY nor WAYLAND_DISPLAY is set. "
                          "Start it in a desktop session or under xvfb-run; "
                          "'-platform offscreen --screenshot FILE' saves a picture without a display.");
#else
    Q_UNUSED(arguments);
    Q_UNUSED(environment);
    return {};
#endif
}

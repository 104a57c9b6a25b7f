#pragma once

#include "sagastatus.h"
#include "sourcespec.h"

#include <QProcessEnvironment>
#include <QString>
#include <QStringList>
#include <optional>

// The saga-console command line (ARCHITECTURE.md, "Programs"). It is parsed
// before the QApplication exists, so --help, --version and a wrong argument are
// answered on a machine without a display too. Qt's own GUI options (-platform,
// -style, ...) are left for QApplication.
class ConsoleCommandLine
{
public:
    enum class Mode { Run, Help, Version, Error };

    Mode mode = Mode::Error;
    QString text; // Help, Version: what to print; Error: what is wrong

    // Run
    SourceSpec spec;
    bool demo = false;
    std::optional<int> demoOrdersPerMinute;
    std::optional<int> demoFailurePercent;
    QString screenshotFile; // empty: no screenshot
    int screenshotAfterMs = 5000;
    std::optional<OverallStatus> screenshotSelect;

    // arguments[0] is the program, as in QCoreApplication::arguments().
    static ConsoleCommandLine parse(const QStringList &arguments);

    // Why no window can be shown here, or empty: on X11/Wayland systems, neither
    // DISPLAY nor WAYLAND_DISPLAY is set and no platform was chosen (-platform or
    // QT_QPA_PLATFORM). Qt would abort with a core dump instead of saying so.
    static QString displayProblem(const QStringList &arguments, const QProcessEnvironment &environment);
};

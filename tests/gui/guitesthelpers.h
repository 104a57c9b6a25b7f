#pragma once

// Shared by the GUI tests (header only).

#include "../unit/model/sagascenarios.h"

#include <QColor>
#include <QImage>
#include <QMutex>
#include <QStringList>

namespace GuiTest {

// The fill colours of the status icons (resources/icons).
inline QColor green() { return QColor(0x18, 0x80, 0x38); }
inline QColor red() { return QColor(0xD9, 0x30, 0x25); }
inline QColor purple() { return QColor(0x84, 0x30, 0xCE); }
inline QColor amber() { return QColor(0xE3, 0x74, 0x00); }
inline QColor blue() { return QColor(0x1A, 0x73, 0xE8); }

inline bool near(const QColor &a, const QColor &b, int tolerance = 40)
{
    return qAbs(a.red() - b.red()) + qAbs(a.green() - b.green()) + qAbs(a.blue() - b.blue()) <= tolerance;
}

// True when some pixel inside `rect` of `image` has (nearly) `color`.
inline bool containsColor(const QImage &image, const QRect &rect, const QColor &color, int tolerance = 40)
{
    const QRect r = rect.intersected(image.rect());
    for (int y = r.top(); y <= r.bottom(); ++y) {
        for (int x = r.left(); x <= r.right(); ++x) {
            if (near(image.pixelColor(x, y), color, tolerance))
                return true;
        }
    }
    return false;
}

// Collects the warnings logged while it lives (and passes every message on to
// the handler that was installed before it).
class WarningLog
{
public:
    WarningLog()
    {
        {
            QMutexLocker lock(&mutex());
            warnings().clear();
        }
        s_previous = qInstallMessageHandler(&WarningLog::handle);
    }
    ~WarningLog() { qInstallMessageHandler(s_previous); }
    WarningLog(const WarningLog &) = delete;
    WarningLog &operator=(const WarningLog &) = delete;

    // The warnings so far that contain `text`.
    int count(const QString &text) const
    {
        QMutexLocker lock(&mutex());
        return int(warnings().filter(text).size());
    }

private:
    static void handle(QtMsgType type, const QMessageLogContext &context, const QString &message)
    {
        if (type == QtWarningMsg) {
            QMutexLocker lock(&mutex());
            warnings().append(message);
        }
        if (s_previous)
            s_previous(type, context, message);
    }
    static QStringList &warnings()
    {
        static QStringList all;
        return all;
    }
    static QMutex &mutex()
    {
        static QMutex m;
        return m;
    }
    static inline QtMessageHandler s_previous = nullptr;
};

} // namespace GuiTest

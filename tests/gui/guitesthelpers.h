#pragma once

// Shared by the GUI tests (header only).

#include "../unit/model/sagascenarios.h"

#include <QColor>
#include <QImage>

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

} // namespace GuiTest

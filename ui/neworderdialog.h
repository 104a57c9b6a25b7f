#pragma once

#include "orderpresets.h"

#include <QDialog>

class DemoTraffic;
class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QSlider;
class QSpinBox;

// Places one order (from a preset, every field editable) and controls the demo
// traffic (orders per minute, share of failures). Placing goes through the
// main window's source; the dialog only builds the request.
class NewOrderDialog : public QDialog
{
    Q_OBJECT
public:
    NewOrderDialog(DemoTraffic *demo, QWidget *parent = nullptr);

    void setPreset(OrderPreset preset);
    OrderPreset preset() const;
    OrderRequest request() const;
    void setPlacingEnabled(bool enabled, const QString &whyNot = {});
    void showResult(const QString &text, bool ok);

Q_SIGNALS:
    void placeRequested(const OrderRequest &request);

private:
    void fill(const OrderRequest &r);
    void updateDemoControls();

    DemoTraffic *m_demo = nullptr;
    QComboBox *m_preset = nullptr;
    QLabel *m_expected = nullptr;
    QLineEdit *m_customer = nullptr;
    QLineEdit *m_productId = nullptr;
    QLineEdit *m_productName = nullptr;
    QSpinBox *m_quantity = nullptr;
    QSpinBox *m_price = nullptr;
    QLineEdit *m_payment = nullptr;
    QLineEdit *m_street = nullptr;
    QLineEdit *m_city = nullptr;
    QLineEdit *m_state = nullptr;
    QLineEdit *m_postalCode = nullptr;
    QLineEdit *m_country = nullptr;
    QPushButton *m_place = nullptr;
    QLabel *m_result = nullptr;
    QSpinBox *m_perMinute = nullptr;
    QSlider *m_failureMix = nullptr;
    QLabel *m_failureMixLabel = nullptr;
    QPushButton *m_demoButton = nullptr;
};

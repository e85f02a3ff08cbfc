"""A byte transport over a serial port (pyserial), for a board's host bridge."""


class SerialTransport:
    """``port`` opened at ``baud`` 8N1; ``read`` waits up to ``timeout`` seconds. A port
    that cannot be opened is an OSError naming it."""

    def __init__(self, port, baud=115200, timeout=2.0):
        import serial
        try:
            self.serial = serial.Serial(port, baud, timeout=timeout)
        except (serial.SerialException, ValueError) as e:
            raise OSError(f"cannot open serial port {port}: {e}") from None
        self.serial.reset_input_buffer()

    def write(self, data):
        self.serial.write(data)

    def read(self, n):
        return self.serial.read(n)

    def close(self):
        self.serial.close()
